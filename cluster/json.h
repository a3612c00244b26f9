/* JSON text as The Things Stack prints it (Go's encoding/json, JavaScript's JSON.stringify):
 * a real with the fewest significant digits that read back as the same double, so 27.2
 * prints as 27.2, not as jansson's default 27.199999999999999.
 *
 * jansson takes one precision for a whole document, so the precision is the smallest of 15,
 * 16 and 17 at which every real of the document reads back exactly: a document whose reals
 * all have 15 digits or fewer (nearly all) prints each as Go does; one real that needs 17
 * makes every real print with 17, still exact. Pure: no I/O, no allocation but the text. */
#ifndef LW_JSON_H
#define LW_JSON_H

#include <stddef.h>

#include <jansson.h>

/* JSON_REAL_PRECISION(n) for j: the fewest digits (15..17) that keep all its reals exact. */
size_t lw_json_real_flags(const json_t *j);

/* json_dumps(j, flags | lw_json_real_flags(j)); NULL when j cannot be encoded. Free with
 * free(). */
char *lw_json_dumps(const json_t *j, size_t flags);

#endif
