/* placeholder */
#include "sotto/err.h"
int main(void) { return 0; }
