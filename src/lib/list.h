/*
 * list.h — an intrusive doubly linked list: the element embeds a struct
 * cs_link and is found again with CS_CONTAINER.  No allocation; the owner
 * of the list provides any locking.  A link is on at most one list.
 */
#ifndef CS_LIST_H
#define CS_LIST_H

#include <stddef.h>

struct cs_link {
	struct cs_link *prev, *next;
};

struct cs_list {
	struct cs_link *head, *tail;
};

/* The struct of type that holds link as its member. */
#define CS_CONTAINER(link, type, member) \
	((type *)(void *)((char *)(link)-offsetof(type, member)))

/* Insert l after at (NULL: at the front). */
static inline void
cs_list_insert_after(struct cs_list *li, struct cs_link *at, struct cs_link *l)
{
	l->prev = at;
	l->next = at != NULL ? at->next : li->head;
	if (l->next != NULL)
		l->next->prev = l;
	else
		li->tail = l;
	if (at != NULL)
		at->next = l;
	else
		li->head = l;
}

static inline void
cs_list_push_front(struct cs_list *li, struct cs_link *l)
{
	cs_list_insert_after(li, NULL, l);
}

static inline void
cs_list_push_back(struct cs_list *li, struct cs_link *l)
{
	cs_list_insert_after(li, li->tail, l);
}

/* Take l (which is on li) off it. */
static inline void
cs_list_remove(struct cs_list *li, struct cs_link *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		li->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	else
		li->tail = l->prev;
	l->prev = l->next = NULL;
}

#endif
