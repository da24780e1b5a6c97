/*
 * record.c — canonical encoding of records and envelopes (ledger layer).
 *
 * The decoder accepts exactly one byte string per record: the one the
 * encoder produces. That is what lets an auditor re-derive commitments and
 * lets two independent implementations agree byte for byte.
 */
#include "ledgerfs/record.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(f) (1ull << (f))

/* Name and kind of each argument field, indexed by field id. */
static const struct {
	const char *name;
	int kind;
} fields[LGFS_F_MAX + 1] = {
	[LGFS_F_NAME] = { "name", LGFS_KIND_BYTES },
	[LGFS_F_PARENT] = { "parent", LGFS_KIND_U64 },
	[LGFS_F_INO] = { "ino", LGFS_KIND_U64 },
	[LGFS_F_MODE] = { "mode", LGFS_KIND_U32 },
	[LGFS_F_UID] = { "uid", LGFS_KIND_U32 },
	[LGFS_F_GID] = { "gid", LGFS_KIND_U32 },
	[LGFS_F_SIZE] = { "size", LGFS_KIND_U64 },
	[LGFS_F_MANIFEST] = { "manifest", LGFS_KIND_HASH },
	[LGFS_F_CONTENT] = { "sha256", LGFS_KIND_HASH },
	[LGFS_F_TARGET] = { "target", LGFS_KIND_BYTES },
	[LGFS_F_NEW_PARENT] = { "new_parent", LGFS_KIND_U64 },
	[LGFS_F_NEW_NAME] = { "new_name", LGFS_KIND_BYTES },
	[LGFS_F_FLAGS] = { "flags", LGFS_KIND_U32 },
	[LGFS_F_RDEV] = { "rdev", LGFS_KIND_U64 },
	[LGFS_F_ATIME] = { "atime", LGFS_KIND_I64 },
	[LGFS_F_MTIME] = { "mtime", LGFS_KIND_I64 },
	[LGFS_F_XATTR_NAME] = { "xattr", LGFS_KIND_BYTES },
	[LGFS_F_XATTR_VALUE] = { "value", LGFS_KIND_BYTES },
	[LGFS_F_KEY] = { "key", LGFS_KIND_HASH },
	[LGFS_F_KEY_NAME] = { "key_name", LGFS_KIND_STR },
	[LGFS_F_RIGHTS] = { "rights", LGFS_KIND_U32 },
	[LGFS_F_PATH] = { "path", LGFS_KIND_STR },
	[LGFS_F_UNTIL] = { "until", LGFS_KIND_I64 },
	[LGFS_F_REF] = { "ref", LGFS_KIND_U64 },
	[LGFS_F_VOTE] = { "vote", LGFS_KIND_U32 },
	[LGFS_F_REASON] = { "reason", LGFS_KIND_STR },
	[LGFS_F_THRESHOLD] = { "threshold", LGFS_KIND_U32 },
	[LGFS_F_RETENTION] = { "retention", LGFS_KIND_U64 },
	[LGFS_F_TOKEN] = { "token", LGFS_KIND_BYTES },
	[LGFS_F_TREE_SIZE] = { "tree_size", LGFS_KIND_U64 },
	[LGFS_F_ROOT] = { "root", LGFS_KIND_HASH },
	[LGFS_F_CTIME] = { "ctime", LGFS_KIND_I64 },
	[LGFS_F_ALLOCATED] = { "allocated", LGFS_KIND_U64 },
};

/* Argument schema of each operation: fields it must have and may have. */
struct op_schema {
	uint16_t op;
	const char *name;
	uint64_t required;
	uint64_t optional;
};

#define NEW_ENTRY (BIT(LGFS_F_PARENT) | BIT(LGFS_F_NAME) | BIT(LGFS_F_UID) | BIT(LGFS_F_GID))
#define VERSION_ARGS (BIT(LGFS_F_INO) | BIT(LGFS_F_SIZE) | BIT(LGFS_F_MANIFEST) | BIT(LGFS_F_CONTENT))

static const struct op_schema ops[] = {
	{ LGFS_OP_GENESIS, "genesis",
	  BIT(LGFS_F_NAME) | BIT(LGFS_F_KEY) | BIT(LGFS_F_KEY_NAME) | BIT(LGFS_F_THRESHOLD) |
		  BIT(LGFS_F_RETENTION),
	  BIT(LGFS_F_REASON) },
	{ LGFS_OP_POLICY, "policy", 0,
	  BIT(LGFS_F_THRESHOLD) | BIT(LGFS_F_RETENTION) | BIT(LGFS_F_REASON) },
	{ LGFS_OP_CREATE, "create", NEW_ENTRY | BIT(LGFS_F_MODE),
	  BIT(LGFS_F_RDEV) | BIT(LGFS_F_PATH) },
	{ LGFS_OP_MKDIR, "mkdir", NEW_ENTRY | BIT(LGFS_F_MODE), BIT(LGFS_F_PATH) },
	{ LGFS_OP_SYMLINK, "symlink", NEW_ENTRY | BIT(LGFS_F_TARGET), BIT(LGFS_F_PATH) },
	{ LGFS_OP_MKNOD, "mknod", NEW_ENTRY | BIT(LGFS_F_MODE) | BIT(LGFS_F_RDEV), BIT(LGFS_F_PATH) },
	{ LGFS_OP_WRITE, "write", VERSION_ARGS, BIT(LGFS_F_PATH) | BIT(LGFS_F_MTIME) | BIT(LGFS_F_ALLOCATED) },
	{ LGFS_OP_TRUNCATE, "truncate", VERSION_ARGS, BIT(LGFS_F_PATH) | BIT(LGFS_F_MTIME) | BIT(LGFS_F_ALLOCATED) },
	{ LGFS_OP_RENAME, "rename",
	  BIT(LGFS_F_PARENT) | BIT(LGFS_F_NAME) | BIT(LGFS_F_NEW_PARENT) | BIT(LGFS_F_NEW_NAME),
	  BIT(LGFS_F_FLAGS) | BIT(LGFS_F_PATH) },
	{ LGFS_OP_LINK, "link", BIT(LGFS_F_INO) | BIT(LGFS_F_NEW_PARENT) | BIT(LGFS_F_NEW_NAME),
	  BIT(LGFS_F_PATH) },
	{ LGFS_OP_UNLINK, "unlink", BIT(LGFS_F_PARENT) | BIT(LGFS_F_NAME),
	  BIT(LGFS_F_INO) | BIT(LGFS_F_PATH) },
	{ LGFS_OP_RMDIR, "rmdir", BIT(LGFS_F_PARENT) | BIT(LGFS_F_NAME),
	  BIT(LGFS_F_INO) | BIT(LGFS_F_PATH) },
	{ LGFS_OP_SETATTR, "setattr", BIT(LGFS_F_INO),
	  BIT(LGFS_F_MODE) | BIT(LGFS_F_UID) | BIT(LGFS_F_GID) | BIT(LGFS_F_ATIME) |
		  BIT(LGFS_F_MTIME) | BIT(LGFS_F_CTIME) | BIT(LGFS_F_PATH) },
	{ LGFS_OP_SETXATTR, "setxattr", BIT(LGFS_F_INO) | BIT(LGFS_F_XATTR_NAME) | BIT(LGFS_F_XATTR_VALUE),
	  BIT(LGFS_F_FLAGS) | BIT(LGFS_F_PATH) },
	{ LGFS_OP_REMOVEXATTR, "removexattr", BIT(LGFS_F_INO) | BIT(LGFS_F_XATTR_NAME),
	  BIT(LGFS_F_PATH) },
	{ LGFS_OP_MEMBER_ADD, "member-add", BIT(LGFS_F_KEY) | BIT(LGFS_F_KEY_NAME) | BIT(LGFS_F_RIGHTS),
	  BIT(LGFS_F_REASON) },
	{ LGFS_OP_MEMBER_VOTE, "member-vote", BIT(LGFS_F_REF) | BIT(LGFS_F_VOTE), BIT(LGFS_F_REASON) },
	{ LGFS_OP_MEMBER_REMOVE, "member-remove", BIT(LGFS_F_KEY), BIT(LGFS_F_REASON) },
	{ LGFS_OP_MEMBER_KICK, "member-kick", BIT(LGFS_F_KEY), BIT(LGFS_F_REASON) | BIT(LGFS_F_REF) },
	{ LGFS_OP_KEY_ROTATE, "key-rotate", BIT(LGFS_F_KEY) | BIT(LGFS_F_KEY_NAME), BIT(LGFS_F_REASON) },
	{ LGFS_OP_GRANT, "grant", BIT(LGFS_F_KEY) | BIT(LGFS_F_PATH) | BIT(LGFS_F_RIGHTS),
	  BIT(LGFS_F_REASON) | BIT(LGFS_F_UNTIL) },
	{ LGFS_OP_REVOKE, "revoke", BIT(LGFS_F_KEY) | BIT(LGFS_F_PATH), BIT(LGFS_F_REASON) },
	{ LGFS_OP_RETENTION, "retention", BIT(LGFS_F_PATH),
	  BIT(LGFS_F_RETENTION) | BIT(LGFS_F_UNTIL) | BIT(LGFS_F_REASON) | BIT(LGFS_F_FLAGS) | BIT(LGFS_F_NAME) },
	{ LGFS_OP_HOLD, "hold", BIT(LGFS_F_PATH), BIT(LGFS_F_REASON) },
	{ LGFS_OP_HOLD_RELEASE, "hold-release", BIT(LGFS_F_REF), BIT(LGFS_F_REASON) },
	{ LGFS_OP_TIMESTAMP, "timestamp", BIT(LGFS_F_TREE_SIZE) | BIT(LGFS_F_ROOT) | BIT(LGFS_F_TOKEN), 0 },
	{ LGFS_OP_SHRED, "shred", BIT(LGFS_F_REF), BIT(LGFS_F_REASON) },
	{ LGFS_OP_NOTE, "note", BIT(LGFS_F_REASON), BIT(LGFS_F_PATH) },
};

static const struct op_schema *op_find(uint16_t op)
{
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return &ops[i];
	return NULL;
}

const char *lgfs_op_name(uint16_t op)
{
	const struct op_schema *s = op_find(op);

	return s ? s->name : NULL;
}

uint16_t lgfs_op_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].name, name))
			return ops[i].op;
	return 0;
}

const char *lgfs_field_name(uint8_t field)
{
	return field >= 1 && field <= LGFS_F_MAX ? fields[field].name : NULL;
}

int lgfs_field_kind(uint8_t field)
{
	return field >= 1 && field <= LGFS_F_MAX ? fields[field].kind : 0;
}

/* Fixed length of a kind, or -1 for variable-length kinds. */
static long kind_len(int kind)
{
	switch (kind) {
	case LGFS_KIND_U32: return 4;
	case LGFS_KIND_U64:
	case LGFS_KIND_I64: return 8;
	case LGFS_KIND_HASH: return 32;
	}
	return -1;
}

/* Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF) and no NUL. */
static int utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

void lgfs_record_init(struct lgfs_record *r, uint16_t op)
{
	memset(r, 0, sizeof(*r));
	r->version = LGFS_FORMAT_VERSION;
	r->op = op;
}

/* Append an argument after checking field, kind and duplicates. */
static int add_arg(struct lgfs_record *r, uint8_t field, int kind, uint64_t num,
		   const uint8_t *data, size_t len)
{
	unsigned int i;

	if (lgfs_field_kind(field) == 0)
		return lgfs_error_set(LGFS_EINVAL, "unknown record field %u", field);
	if (lgfs_field_kind(field) != kind)
		return lgfs_error_set(LGFS_EINVAL, "field %s has another kind", lgfs_field_name(field));
	for (i = 0; i < r->nargs; i++)
		if (r->args[i].field == field)
			return lgfs_error_set(LGFS_EINVAL, "field %s given twice", lgfs_field_name(field));
	if (r->nargs == LGFS_RECORD_MAX_ARGS)
		return lgfs_error_set(LGFS_EINVAL, "too many record arguments");
	if (len > LGFS_ARG_MAX_LEN)
		return lgfs_error_set(LGFS_EINVAL, "field %s is %zu bytes, more than %u",
				      lgfs_field_name(field), len, LGFS_ARG_MAX_LEN);
	r->args[r->nargs].field = field;
	r->args[r->nargs].num = num;
	r->args[r->nargs].data = data;
	r->args[r->nargs].len = (uint32_t)len;
	r->nargs++;
	return 0;
}

int lgfs_record_add_u32(struct lgfs_record *r, uint8_t field, uint32_t v)
{
	return add_arg(r, field, LGFS_KIND_U32, v, NULL, 4);
}

int lgfs_record_add_u64(struct lgfs_record *r, uint8_t field, uint64_t v)
{
	return add_arg(r, field, LGFS_KIND_U64, v, NULL, 8);
}

int lgfs_record_add_i64(struct lgfs_record *r, uint8_t field, int64_t v)
{
	return add_arg(r, field, LGFS_KIND_I64, (uint64_t)v, NULL, 8);
}

int lgfs_record_add_bytes(struct lgfs_record *r, uint8_t field, const void *p, size_t len)
{
	int kind = lgfs_field_kind(field);

	if (kind == LGFS_KIND_HASH && len != 32)
		return lgfs_error_set(LGFS_EINVAL, "field %s needs 32 bytes", lgfs_field_name(field));
	if (kind == LGFS_KIND_STR && !utf8_valid(p, len))
		return lgfs_error_set(LGFS_EINVAL, "field %s is not valid UTF-8 text", lgfs_field_name(field));
	if (kind != LGFS_KIND_HASH && kind != LGFS_KIND_STR && kind != LGFS_KIND_BYTES)
		return lgfs_error_set(LGFS_EINVAL, "field %u does not hold bytes", field);
	return add_arg(r, field, kind, 0, p, len);
}

int lgfs_record_add_str(struct lgfs_record *r, uint8_t field, const char *s)
{
	return lgfs_record_add_bytes(r, field, s, strlen(s));
}

const struct lgfs_arg *lgfs_record_arg(const struct lgfs_record *r, uint8_t field)
{
	unsigned int i;

	for (i = 0; i < r->nargs; i++)
		if (r->args[i].field == field)
			return &r->args[i];
	return NULL;
}

int lgfs_record_get_u64(const struct lgfs_record *r, uint8_t field, uint64_t *out)
{
	const struct lgfs_arg *a = lgfs_record_arg(r, field);

	if (!a || kind_len(lgfs_field_kind(field)) != 8)
		return LGFS_ENOTFOUND;
	*out = a->num;
	return 0;
}

int lgfs_record_get_u32(const struct lgfs_record *r, uint8_t field, uint32_t *out)
{
	const struct lgfs_arg *a = lgfs_record_arg(r, field);

	if (!a || lgfs_field_kind(field) != LGFS_KIND_U32)
		return LGFS_ENOTFOUND;
	*out = (uint32_t)a->num;
	return 0;
}

int lgfs_record_get_i64(const struct lgfs_record *r, uint8_t field, int64_t *out)
{
	uint64_t v;

	if (lgfs_record_get_u64(r, field, &v))
		return LGFS_ENOTFOUND;
	*out = (int64_t)v;
	return 0;
}

static int arg_cmp(const void *a, const void *b)
{
	const struct lgfs_arg *x = a, *y = b;

	return (int)x->field - (int)y->field;
}

/* Check args against the operation's schema; `code` is the error to return. */
static int check_schema(const struct lgfs_record *r, int code)
{
	const struct op_schema *s = op_find(r->op);
	uint64_t have = 0;
	unsigned int i;

	if (!s)
		return lgfs_error_set(code, "unknown operation type 0x%04x", r->op);
	for (i = 0; i < r->nargs; i++)
		have |= BIT(r->args[i].field);
	if ((have & s->required) != s->required) {
		for (i = 1; i <= LGFS_F_MAX; i++)
			if ((s->required & BIT(i)) && !(have & BIT(i)))
				return lgfs_error_set(code, "%s record lacks its %s argument", s->name,
						      lgfs_field_name((uint8_t)i));
	}
	if (have & ~(s->required | s->optional)) {
		for (i = 1; i <= LGFS_F_MAX; i++)
			if ((have & BIT(i)) && !((s->required | s->optional) & BIT(i)))
				return lgfs_error_set(code, "%s record may not have a %s argument", s->name,
						      lgfs_field_name((uint8_t)i));
	}
	return 0;
}

int lgfs_record_encode(struct lgfs_buf *out, struct lgfs_record *r)
{
	size_t origin_len = strnlen(r->origin, sizeof(r->origin));
	size_t start = out->len;
	unsigned int i;
	int rc;

	if (r->version != LGFS_FORMAT_VERSION)
		return lgfs_error_set(LGFS_EINVAL, "record format version %u is not supported", r->version);
	if (origin_len > LGFS_ORIGIN_MAX || !utf8_valid((const uint8_t *)r->origin, origin_len))
		return lgfs_error_set(LGFS_EINVAL, "record origin is not valid text");
	qsort(r->args, r->nargs, sizeof(r->args[0]), arg_cmp);
	rc = check_schema(r, LGFS_EINVAL);
	if (rc)
		return rc;
	lgfs_buf_put(out, r->salt, LGFS_SALT_LEN);
	lgfs_buf_put_u8(out, r->version);
	lgfs_buf_put_u16(out, (uint16_t)origin_len);
	lgfs_buf_put(out, r->origin, origin_len);
	lgfs_buf_put_u64(out, r->index);
	lgfs_buf_put(out, r->prev, 32);
	lgfs_buf_put(out, r->author, 32);
	lgfs_buf_put_u32(out, r->uid);
	lgfs_buf_put_u32(out, r->gid);
	lgfs_buf_put_u64(out, (uint64_t)r->time_ns);
	lgfs_buf_put_u16(out, r->op);
	lgfs_buf_put_u8(out, (uint8_t)r->nargs);
	for (i = 0; i < r->nargs; i++) {
		const struct lgfs_arg *a = &r->args[i];
		int kind = lgfs_field_kind(a->field);

		lgfs_buf_put_u8(out, a->field);
		lgfs_buf_put_u32(out, a->len);
		if (kind == LGFS_KIND_U32)
			lgfs_buf_put_u32(out, (uint32_t)a->num);
		else if (kind == LGFS_KIND_U64 || kind == LGFS_KIND_I64)
			lgfs_buf_put_u64(out, a->num);
		else
			lgfs_buf_put(out, a->data, a->len);
	}
	rc = lgfs_buf_ok(out);
	if (rc)
		return rc;
	if (out->len - start > LGFS_RECORD_MAX_LEN) {
		size_t n = out->len - start;

		out->len = start;
		return lgfs_error_set(LGFS_EINVAL, "record would be %zu bytes, more than %u", n,
				      LGFS_RECORD_MAX_LEN);
	}
	return 0;
}

int lgfs_record_decode(struct lgfs_record *r, const uint8_t *p, size_t len)
{
	struct lgfs_reader rd;
	uint16_t origin_len;
	const uint8_t *origin;
	uint64_t t;
	uint8_t nargs;
	unsigned int i;

	memset(r, 0, sizeof(*r));
	if (len > LGFS_RECORD_MAX_LEN)
		return lgfs_error_set(LGFS_ECORRUPT, "record is %zu bytes, more than %u", len, LGFS_RECORD_MAX_LEN);
	lgfs_reader_init(&rd, p, len);
	lgfs_reader_copy(&rd, r->salt, LGFS_SALT_LEN);
	lgfs_reader_u8(&rd, &r->version);
	if (rd.bad)
		return lgfs_error_set(LGFS_ECORRUPT, "record truncated in its header");
	if (r->version != LGFS_FORMAT_VERSION)
		return lgfs_error_set(LGFS_ECORRUPT, "record format version %u is not supported", r->version);
	lgfs_reader_u16(&rd, &origin_len);
	if (origin_len > LGFS_ORIGIN_MAX)
		return lgfs_error_set(LGFS_ECORRUPT, "record origin is %u bytes, more than %d",
				      origin_len, LGFS_ORIGIN_MAX);
	lgfs_reader_bytes(&rd, &origin, origin_len);
	if (rd.bad)
		return lgfs_error_set(LGFS_ECORRUPT, "record truncated in its origin");
	if (!utf8_valid(origin, origin_len))
		return lgfs_error_set(LGFS_ECORRUPT, "record origin is not valid text");
	memcpy(r->origin, origin, origin_len);
	lgfs_reader_u64(&rd, &r->index);
	lgfs_reader_copy(&rd, r->prev, 32);
	lgfs_reader_copy(&rd, r->author, 32);
	lgfs_reader_u32(&rd, &r->uid);
	lgfs_reader_u32(&rd, &r->gid);
	lgfs_reader_u64(&rd, &t);
	r->time_ns = (int64_t)t;
	lgfs_reader_u16(&rd, &r->op);
	lgfs_reader_u8(&rd, &nargs);
	if (rd.bad)
		return lgfs_error_set(LGFS_ECORRUPT, "record truncated in its header");
	if (nargs > LGFS_RECORD_MAX_ARGS)
		return lgfs_error_set(LGFS_ECORRUPT, "record has %u arguments, more than %d", nargs,
				      LGFS_RECORD_MAX_ARGS);
	for (i = 0; i < nargs; i++) {
		struct lgfs_arg *a = &r->args[i];
		uint32_t alen;
		int kind;
		long fixed;

		lgfs_reader_u8(&rd, &a->field);
		lgfs_reader_u32(&rd, &alen);
		if (rd.bad)
			return lgfs_error_set(LGFS_ECORRUPT, "record truncated in argument %u", i);
		kind = lgfs_field_kind(a->field);
		if (!kind)
			return lgfs_error_set(LGFS_ECORRUPT, "record argument %u has unknown field %u", i, a->field);
		if (i > 0 && a->field <= r->args[i - 1].field)
			return lgfs_error_set(LGFS_ECORRUPT, "record arguments not in ascending field order");
		fixed = kind_len(kind);
		if ((fixed >= 0 && alen != (uint32_t)fixed) || alen > LGFS_ARG_MAX_LEN)
			return lgfs_error_set(LGFS_ECORRUPT, "record argument %s has bad length %u",
					      lgfs_field_name(a->field), alen);
		a->len = alen;
		if (kind == LGFS_KIND_U32) {
			uint32_t v;

			lgfs_reader_u32(&rd, &v);
			a->num = v;
		} else if (kind == LGFS_KIND_U64 || kind == LGFS_KIND_I64) {
			lgfs_reader_u64(&rd, &a->num);
		} else {
			lgfs_reader_bytes(&rd, &a->data, alen);
		}
		if (rd.bad)
			return lgfs_error_set(LGFS_ECORRUPT, "record truncated in argument %s",
					      lgfs_field_name(a->field));
		if (kind == LGFS_KIND_STR && !utf8_valid(a->data, alen))
			return lgfs_error_set(LGFS_ECORRUPT, "record argument %s is not valid UTF-8 text",
					      lgfs_field_name(a->field));
	}
	r->nargs = nargs;
	if (rd.left)
		return lgfs_error_set(LGFS_ECORRUPT, "record has %zu trailing bytes", rd.left);
	return check_schema(r, LGFS_ECORRUPT);
}

void lgfs_record_commitment(uint8_t out[32], const uint8_t *rec, size_t len)
{
	lgfs_sha256_3(out, LGFS_TAG_COMMITMENT, sizeof(LGFS_TAG_COMMITMENT), rec, len, NULL, 0);
}

void lgfs_envelope_encode(uint8_t out[LGFS_ENVELOPE_LEN], const struct lgfs_envelope *e)
{
	uint8_t *p = out;

	*p++ = e->version;
	lgfs_be64_put(p, e->index);
	p += 8;
	memcpy(p, e->prev, 32);
	p += 32;
	memcpy(p, e->author, 32);
	p += 32;
	lgfs_be64_put(p, (uint64_t)e->time_ns);
	p += 8;
	memcpy(p, e->commitment, 32);
	p += 32;
	memcpy(p, e->sig, 64);
}

int lgfs_envelope_decode(struct lgfs_envelope *e, const uint8_t *p, size_t len)
{
	memset(e, 0, sizeof(*e));
	if (len != LGFS_ENVELOPE_LEN)
		return lgfs_error_set(LGFS_ECORRUPT, "envelope is %zu bytes, not %d", len, LGFS_ENVELOPE_LEN);
	e->version = p[0];
	if (e->version != LGFS_FORMAT_VERSION)
		return lgfs_error_set(LGFS_ECORRUPT, "envelope format version %u is not supported", e->version);
	e->index = lgfs_be64_get(p + 1);
	memcpy(e->prev, p + 9, 32);
	memcpy(e->author, p + 41, 32);
	e->time_ns = (int64_t)lgfs_be64_get(p + 73);
	memcpy(e->commitment, p + 81, 32);
	memcpy(e->sig, p + 113, 64);
	return 0;
}

void lgfs_envelope_hash(uint8_t out[32], const uint8_t env[LGFS_ENVELOPE_LEN])
{
	lgfs_sha256(out, env, LGFS_ENVELOPE_SIGNED_LEN);
}

int lgfs_envelope_signed_message(struct lgfs_buf *out, const char *origin,
				 const uint8_t env[LGFS_ENVELOPE_LEN])
{
	size_t n = strlen(origin);

	if (n > LGFS_ORIGIN_MAX)
		return lgfs_error_set(LGFS_EINVAL, "origin longer than %d bytes", LGFS_ORIGIN_MAX);
	lgfs_buf_put(out, LGFS_TAG_ENVELOPE, sizeof(LGFS_TAG_ENVELOPE));
	lgfs_buf_put_u16(out, (uint16_t)n);
	lgfs_buf_put(out, origin, n);
	lgfs_buf_put(out, env, LGFS_ENVELOPE_SIGNED_LEN);
	return lgfs_buf_ok(out);
}

int lgfs_origin_make(char out[LGFS_ORIGIN_MAX + 1], const char *name, const uint8_t genesis_commitment[32])
{
	char hex[65];
	int n;

	lgfs_hex(hex, genesis_commitment, 32);
	n = snprintf(out, LGFS_ORIGIN_MAX + 1, "ledgerfs/%s/%.16s", name, hex);
	if (n < 0 || n > LGFS_ORIGIN_MAX)
		return lgfs_error_set(LGFS_EINVAL, "volume name too long for an origin");
	return 0;
}

int lgfs_op_supported(uint16_t op)
{
	return op >> 8 == 0x01 || op == LGFS_OP_NOTE || op == LGFS_OP_RETENTION || op == LGFS_OP_HOLD ||
	       op == LGFS_OP_HOLD_RELEASE;
}
