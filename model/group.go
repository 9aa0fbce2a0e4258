package model

// Group is a security group. Ingress and Egress hold one Rule per peer; the slices are never
// modified in place once the group is published (copy on write).
type Group struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"desc"`
	VpcID       string `json:"vpc"`
	OwnerID     string `json:"owner"`
	// Default marks the VPC's default group, which users cannot delete (spec §2.3).
	Default bool   `json:"default,omitempty"`
	Ingress []Rule `json:"in,omitempty"`
	Egress  []Rule `json:"out,omitempty"`
	Tags    Tags   `json:"tags,omitempty"`
}

// Default group constants (spec §2.3).
const (
	DefaultGroupName        = "default"
	DefaultGroupDescription = "default VPC security group"
)

// Clone returns a deep copy that may be modified freely.
func (g *Group) Clone() *Group {
	c := *g
	c.Ingress = cloneRules(g.Ingress)
	c.Egress = cloneRules(g.Egress)
	c.Tags = g.Tags.Clone()
	return &c
}

func cloneRules(rs []Rule) []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs))
	for i, r := range rs {
		r.Tags = r.Tags.Clone()
		out[i] = r
	}
	return out
}

// Rules returns the rules of one direction.
func (g *Group) Rules(egress bool) []Rule {
	if egress {
		return g.Egress
	}
	return g.Ingress
}

// FindRule returns the index of the rule with the given ID in the given direction, or -1.
func (g *Group) FindRule(egress bool, id string) int {
	for i := range g.Rules(egress) {
		if g.Rules(egress)[i].ID == id {
			return i
		}
	}
	return -1
}
