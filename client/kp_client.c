/*  placeholder */
#include "kp_client.h"
