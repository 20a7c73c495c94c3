/* placeholder */
#include "sotto/err.h"
