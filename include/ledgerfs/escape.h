/*
 * escape.h — names made safe to print (util layer).
 *
 * File names, volume names and other strings that come from a user or from
 * the store are arbitrary bytes. Printed raw they can move the cursor, clear
 * the screen (ESC sequences), forge extra lines in a report (newline) or break
 * a reader expecting UTF-8. Every message and report that shows such a name
 * passes it through lgfs_escape() first.
 *
 * The escaped form is printable valid UTF-8 and reversible:
 *   - a backslash becomes "\\";
 *   - a byte that is not part of a printable, valid UTF-8 character becomes
 *     "\xNN" (two lower-case hex digits): C0 controls (incl. newline, tab,
 *     ESC), DEL, bytes of invalid or overlong UTF-8, surrogates;
 *   - valid UTF-8 characters that a terminal acts on or that reorder text are
 *     escaped byte by byte the same way: C1 controls U+0080..U+009F, the line
 *     and paragraph separators U+2028/U+2029, and the bidirectional controls
 *     U+200E, U+200F, U+202A..U+202E, U+2066..U+2069;
 *   - every other byte is copied.
 * A name without such bytes prints unchanged.
 */
#ifndef LGFS_ESCAPE_H
#define LGFS_ESCAPE_H

#include <stddef.h>

#include "buf.h"

/* Escape name (len bytes, may contain NUL) into out (cap bytes). The result
 * is always NUL-terminated when cap > 0; when it does not fit it is cut at a
 * whole character or escape, never inside one. Returns the length the full
 * escaped text has (without the NUL), like snprintf: the output is complete
 * iff the return value is < cap. */
size_t lgfs_escape(char *out, size_t cap, const void *name, size_t len);

/* The escaped name in a new NUL-terminated string the caller frees with
 * free(); NULL only when memory runs out. */
char *lgfs_escape_dup(const void *name, size_t len);

/* Append the escaped name (no NUL) to b. 0 or LGFS_ENOMEM. */
int lgfs_escape_buf(struct lgfs_buf *b, const void *name, size_t len);

/* Length (1..4) of the valid UTF-8 character at p (n > 0 bytes available), or
 * 0 when the bytes at p do not start one (overlong forms, surrogates and code
 * points above U+10FFFF are invalid). */
size_t lgfs_utf8_len(const void *p, size_t n);
/* Code point of the valid k-byte UTF-8 sequence at s (k from lgfs_utf8_len). */
uint32_t lgfs_utf8_cp(const void *s, size_t k);

/* For the valid k-byte character at p (k from lgfs_utf8_len): 1 if it may
 * be printed raw, 0 if it is one of the characters escaped above (a control,
 * separator or bidirectional control). */
int lgfs_utf8_printable(const void *p, size_t k);

/* 1 if all len bytes of s are valid UTF-8, else 0. */
int lgfs_utf8_valid(const void *s, size_t len);

#endif
