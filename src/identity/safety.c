/* placeholder until implemented */
#include "identity/safety.h"
