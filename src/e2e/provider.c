/* placeholder until implemented */
#include "e2e/e2e.h"
