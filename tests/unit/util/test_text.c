/* filled below */
#include "util/text.h"
