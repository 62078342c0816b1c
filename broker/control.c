/*  control.c - placeholder */
#include "control.h"
