/*  directory.c - placeholder */
#include "directory.h"
