/*
 * list: an intrusive circular doubly-linked list, the way every object in
 * sluice is herded between its state lists. A node that is on no list points
 * to itself, so list_del is safe to call twice.
 */
#ifndef SLUICE_LIST_H
#define SLUICE_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct list {
	struct list *next;
	struct list *prev;
};

/* The object containing a list node (const-ness of ptr is not tracked). */
#define container_of(ptr, type, member) ((type *)(void *)((uintptr_t)(ptr)-offsetof(type, member)))
#define list_entry(node, type, member)  container_of(node, type, member)

static inline void list_init(struct list *l)
{
	l->next = l;
	l->prev = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

static inline void list_insert(struct list *node, struct list *prev, struct list *next)
{
	node->prev = prev;
	node->next = next;
	prev->next = node;
	next->prev = node;
}

/* Append (FIFO order). */
static inline void list_add_tail(struct list *head, struct list *node)
{
	list_insert(node, head->prev, head);
}

/* Prepend (LIFO order). */
static inline void list_add_head(struct list *head, struct list *node)
{
	list_insert(node, head, head->next);
}

static inline void list_del(struct list *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	list_init(node);
}

static inline struct list *list_first(const struct list *head)
{
	return list_empty(head) ? NULL : head->next;
}

/* Number of nodes (walks the list: for views, not the hot path). */
static inline int list_length(const struct list *head)
{
	int n = 0;
	for (const struct list *it = head->next; it != head; it = it->next)
		n++;
	return n;
}

/* Iterate allowing deletion of the current node. */
#define list_for_each_safe(pos, tmp, head)                               \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
