/* placeholder until implemented */
#include "store/profile.h"
