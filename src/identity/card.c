/* placeholder until implemented */
#include "identity/card.h"
