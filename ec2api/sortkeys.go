package ec2api

import "sort"

// sortByKeys sorts xs in place by the parallel keys slice.
func sortByKeys[T any](xs []T, keys []string) {
	sort.Sort(byKey[T]{xs, keys})
}

type byKey[T any] struct {
	xs   []T
	keys []string
}

func (b byKey[T]) Len() int           { return len(b.xs) }
func (b byKey[T]) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey[T]) Swap(i, j int) {
	b.xs[i], b.xs[j] = b.xs[j], b.xs[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}
