/*
 * json.h — writing JSON text and formatting times (util layer).
 */
#ifndef LGFS_JSON_H
#define LGFS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Append text s (n bytes) as a JSON string literal with quotes. Controls,
 * DEL, C1 controls, separators and bidirectional controls are \u escapes (the
 * decoded value is unchanged); a byte that is not valid UTF-8 becomes
 * U+FFFD, so this is for text (messages, kinds, origins), not for names
 * whose exact bytes matter: those go through lgfs_json_bytes. */
int lgfs_json_str(struct lgfs_buf *b, const void *s, size_t n);
/* Append bytes s (n bytes) without loss or ambiguity: valid UTF-8 as a JSON
 * string exactly as lgfs_json_str writes it (decoding gives back the same
 * bytes); anything else as an object {"b64":"<base64 of the bytes>"}. A
 * reader tells the two apart by the JSON type. */
int lgfs_json_bytes(struct lgfs_buf *b, const void *s, size_t n);
/* For a human: s in double quotes, escaped as lgfs_escape() does (see
 * escape.h), with '"' written as \". */
int lgfs_quote(struct lgfs_buf *b, const void *s, size_t n);
/* RFC 3339 UTC time with nanoseconds: 2026-11-23T03:40:01.123456789Z.
 * `out` holds at least 40 bytes. */
void lgfs_time_format(char *out, size_t cap, int64_t ns);
/* Parse an RFC 3339 time, "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"
 * (years 1970..2262), to ns since the epoch; -1 when it is not one. */
int lgfs_time_parse(const char *s, int64_t *out);

#endif
