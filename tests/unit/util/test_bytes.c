/* filled below */
#include "util/bytes.h"
