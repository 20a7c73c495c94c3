/* placeholder until implemented */
#include "identity/number.h"
