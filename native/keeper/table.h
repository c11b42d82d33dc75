/* A small chained hash table from 64-bit keys to pointers, growing as it fills. */
#ifndef DM_TABLE_H
#define DM_TABLE_H

#include <stdint.h>
#include <stdlib.h>

struct table_entry {
  uint64_t key;
  void *value;
  struct table_entry *next;
};

struct table {
  struct table_entry **buckets;
  size_t size;
  size_t count;
};

static inline size_t table_slot(const struct table *table, uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)(key & (table->size - 1));
}

static inline void *table_get(const struct table *table, uint64_t key) {
  if (table->size == 0) return NULL;
  for (struct table_entry *entry = table->buckets[table_slot(table, key)]; entry; entry = entry->next)
    if (entry->key == key) return entry->value;
  return NULL;
}

static inline void table_grow(struct table *table) {
  size_t old_size = table->size;
  struct table_entry **old = table->buckets;
  table->size = old_size ? old_size * 2 : 64;
  table->buckets = calloc(table->size, sizeof *table->buckets);
  if (!table->buckets) abort();
  for (size_t i = 0; i < old_size; i++)
    for (struct table_entry *entry = old[i], *next; entry; entry = next) {
      next = entry->next;
      size_t slot = table_slot(table, entry->key);
      entry->next = table->buckets[slot];
      table->buckets[slot] = entry;
    }
  free(old);
}

/* Sets (or replaces) the value of a key. */
static inline void table_put(struct table *table, uint64_t key, void *value) {
  if (table->count + 1 > table->size) table_grow(table);
  size_t slot = table_slot(table, key);
  for (struct table_entry *entry = table->buckets[slot]; entry; entry = entry->next)
    if (entry->key == key) {
      entry->value = value;
      return;
    }
  struct table_entry *entry = malloc(sizeof *entry);
  if (!entry) abort();
  entry->key = key;
  entry->value = value;
  entry->next = table->buckets[slot];
  table->buckets[slot] = entry;
  table->count++;
}

static inline void table_remove(struct table *table, uint64_t key) {
  if (table->size == 0) return;
  for (struct table_entry **link = &table->buckets[table_slot(table, key)]; *link;
       link = &(*link)->next)
    if ((*link)->key == key) {
      struct table_entry *gone = *link;
      *link = gone->next;
      free(gone);
      table->count--;
      return;
    }
}

#endif
