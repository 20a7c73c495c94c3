/* tests/support/header_main.c: the headers suite links one translation unit per header; if any
 * header did not compile alone, this program would not exist. */
#include <stdio.h>

int main(void)
{
    printf("%d headers compile alone\n", N_HEADERS);
    return 0;
}
