package host

// Replans is how many plans c made from its last full walk, without another (replan.go).
func Replans(c *Cache) int { return c.replans }
