/*
 * chunks_cache.c — a bounded cache of verified chunks in front of a chunk
 * store (store layer). See chunks.h.
 *
 * Random reads of a file fetch, decompress and hash a whole chunk (up to
 * 64 KiB and more) for every 4 KiB the kernel asks: the cache keeps the
 * chunks a get() returned, after the store verified them, so the next read
 * of the same chunk is a copy. It holds only what get() verified in this
 * process; a chunk changed on disk afterwards is never served from the disk
 * unverified, and the cached bytes are the ones whose hash was checked.
 * get_many() (the read-ahead of files read in order) passes through and
 * fills nothing: a stream would only push the useful chunks out.
 *
 * A hash table of entries keyed by chunk id, and a doubly linked list in
 * use order; the least recently used go when the bytes held exceed the
 * bound. One mutex; a hit copies the chunk under it.
 */
#include "ledgerfs/chunks.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ledgerfs/error.h"

struct entry {
	uint8_t id[32];
	uint8_t *data;
	size_t len;
	struct entry *hnext;      /* hash chain */
	struct entry *prev, *next; /* use order: head is the most recent */
};

struct cache {
	struct lgfs_chunks base; /* first: what callers hold */
	struct lgfs_chunks *inner;
	pthread_mutex_t mu;
	struct entry **table;
	size_t nbuckets;
	struct entry *head, *tail;
	size_t bytes, max;
	uint64_t hits, misses;
};

static size_t bucket(const struct cache *c, const uint8_t id[32])
{
	uint64_t h;

	memcpy(&h, id, 8); /* ids are SHA-256: any 8 bytes spread evenly */
	return (size_t)(h % c->nbuckets);
}

static struct entry *find(struct cache *c, const uint8_t id[32])
{
	struct entry *e;

	for (e = c->table[bucket(c, id)]; e; e = e->hnext)
		if (!memcmp(e->id, id, 32))
			return e;
	return NULL;
}

static void unlink_use(struct cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(struct cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void evict(struct cache *c, struct entry *e)
{
	struct entry **pp = &c->table[bucket(c, e->id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	unlink_use(c, e);
	c->bytes -= e->len;
	free(e->data);
	free(e);
}

static int c_get(struct lgfs_chunks *base, const uint8_t id[32], struct lgfs_buf *out)
{
	struct cache *c = (struct cache *)base;
	struct entry *e;
	int rc;

	pthread_mutex_lock(&c->mu);
	if ((e = find(c, id))) {
		unlink_use(c, e);
		push_front(c, e);
		c->hits++;
		lgfs_buf_reset(out);
		rc = lgfs_buf_put(out, e->data, e->len);
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	c->misses++;
	pthread_mutex_unlock(&c->mu);
	if ((rc = lgfs_chunks_get(c->inner, id, out)))
		return rc;
	/* verified by the store: keep a copy (not a chunk bigger than an
	 * eighth of the cache, which would push out many) */
	if (out->len == 0 || out->len > c->max / 8)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (!find(c, id) && (e = calloc(1, sizeof(*e))) && (e->data = malloc(out->len))) {
		memcpy(e->id, id, 32);
		memcpy(e->data, out->data, out->len);
		e->len = out->len;
		e->hnext = c->table[bucket(c, id)];
		c->table[bucket(c, id)] = e;
		push_front(c, e);
		c->bytes += e->len;
		while (c->bytes > c->max && c->tail && c->tail != e)
			evict(c, c->tail);
	} else if (e && !e->data) {
		free(e); /* out of memory: only a cache */
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int c_put(struct lgfs_chunks *base, const uint8_t id[32], const void *buf, size_t len)
{
	return lgfs_chunks_put(((struct cache *)base)->inner, id, buf, len);
}

static int c_has(struct lgfs_chunks *base, const uint8_t id[32])
{
	return lgfs_chunks_has(((struct cache *)base)->inner, id);
}

static int c_iterate(struct lgfs_chunks *base, lgfs_chunk_cb cb, void *payload)
{
	return lgfs_chunks_iterate(((struct cache *)base)->inner, cb, payload);
}

static int c_sync(struct lgfs_chunks *base)
{
	return lgfs_chunks_sync(((struct cache *)base)->inner);
}

static int c_get_many(struct lgfs_chunks *base, const uint8_t (*ids)[32], size_t n, struct lgfs_buf *outs, int *rcs)
{
	lgfs_chunks_get_many(((struct cache *)base)->inner, ids, n, outs, rcs);
	return 0;
}

static void c_close(struct lgfs_chunks *base)
{
	struct cache *c = (struct cache *)base;

	while (c->tail)
		evict(c, c->tail);
	lgfs_chunks_close(c->inner);
	pthread_mutex_destroy(&c->mu);
	free(c->table);
	free(c);
}

int lgfs_chunks_cache_wrap(struct lgfs_chunks **out, struct lgfs_chunks *inner, size_t max_bytes)
{
	struct cache *c;

	*out = inner;
	if (max_bytes == 0)
		return 0;
	if (!(c = calloc(1, sizeof(*c))))
		return lgfs_error_set(LGFS_ENOMEM, "out of memory for the chunk cache");
	/* about one bucket per 16 KiB held: short chains for 64 KiB chunks */
	c->nbuckets = max_bytes / 16384 < 64 ? 64 : max_bytes / 16384;
	if (c->nbuckets > (1u << 22))
		c->nbuckets = 1u << 22;
	if (!(c->table = calloc(c->nbuckets, sizeof(*c->table)))) {
		free(c);
		return lgfs_error_set(LGFS_ENOMEM, "out of memory for the chunk cache");
	}
	pthread_mutex_init(&c->mu, NULL);
	c->inner = inner;
	c->max = max_bytes;
	c->base.version = 2;
	c->base.scheme = inner->scheme;
	c->base.put = c_put;
	c->base.get = c_get;
	c->base.has = c_has;
	c->base.iterate = c_iterate;
	c->base.sync = c_sync;
	c->base.close = c_close;
	c->base.get_many = c_get_many;
	*out = &c->base;
	return 0;
}

void lgfs_chunks_cache_stats(struct lgfs_chunks *chunks, size_t *bytes, uint64_t *hits, uint64_t *misses)
{
	struct cache *c = (struct cache *)chunks;

	if (chunks->get != c_get) {
		*bytes = 0;
		*hits = *misses = 0;
		return;
	}
	pthread_mutex_lock(&c->mu);
	*bytes = c->bytes;
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->mu);
}
