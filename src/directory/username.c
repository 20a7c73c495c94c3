/* src/directory/username.c: the look-alike skeleton that usernames are unique on
 * (docs/PROTOCOL.md, Directory API): . - _ removed, then 0->o, 1->l, i->l, rn->m, vv->w. */
#include "directory/backend.h"

/* Separators go first, so that "r-n" and "v.v" cannot hide an m or a w. Then one pass left to
 * right gives the same result as the replacements made one after another: none of them
 * produces a character that another one looks for (o, l, m and w start no pair). */
void dir_username_skeleton(const char *username, char out[static TEXT_USERNAME_MAX + 1])
{
    char bare[TEXT_USERNAME_MAX + 1];
    size_t o = 0, n = 0;

    for (size_t i = 0; i < TEXT_USERNAME_MAX && username[i] != '\0'; i++)
        if (username[i] != '.' && username[i] != '-' && username[i] != '_')
            bare[n++] = username[i];
    bare[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        char c = bare[i];
        char next = bare[i + 1];

        if (c == '0') {
            c = 'o';
        } else if (c == '1' || c == 'i') {
            c = 'l';
        } else if ((c == 'r' && next == 'n') || (c == 'v' && next == 'v')) {
            c = c == 'r' ? 'm' : 'w';
            i++;
        }
        out[o++] = c;
    }
    out[o] = '\0';
}
