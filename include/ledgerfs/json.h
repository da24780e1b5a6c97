/*
 * json.h — writing JSON text and formatting times (util layer).
 */
#ifndef LGFS_JSON_H
#define LGFS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Append s (n bytes) as a JSON string literal with quotes; bytes that are
 * not valid UTF-8 are written as \u00XX escapes of the byte value. */
int lgfs_json_str(struct lgfs_buf *b, const void *s, size_t n);
/* Same, for a human: a quoted string with C-style escapes. */
int lgfs_quote(struct lgfs_buf *b, const void *s, size_t n);
/* RFC 3339 UTC time with nanoseconds: 2026-11-23T03:40:01.123456789Z.
 * `out` holds at least 40 bytes. */
void lgfs_time_format(char *out, size_t cap, int64_t ns);

#endif
