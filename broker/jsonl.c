/*  jsonl.c - placeholder */
#include "jsonl.h"
