package audit

import "slices"

// bucket is what kind of service a sensitive port belongs to (audit-checks §2.3); it decides
// which check reports the port open to the internet.
type bucket int

const (
	bucketAdmin     bucket = iota // SGA-002/003 (with Config.AdminPorts), SGA-004
	bucketClearText               // SGA-006
	bucketInfra                   // SGA-006 (DNS)
	bucketDirectory               // SGA-006
	bucketFile                    // SGA-006
	bucketData                    // SGA-005
	bucketDev                     // SGA-004
	bucketWeb                     // authorized by default; no check of its own
	bucketAdminOurs               // SGA-004: not in any anchor, Stockade's addition
)

// service is one row of the sensitive-port table.
type service struct {
	name  string
	ports []uint16
	b     bucket
	// ec2_19 marks the ports of Security Hub's EC2.19 list (SGA-004).
	ec2_19 []uint16
}

// services is audit-checks §2.3, one row per service. The checks test each port over TCP and
// over UDP (a range of either, or protocol -1, opens it): Prowler's port checks look at TCP
// only, although RDP also runs over UDP 3389 and CIS v4+/EC2.53 name TCP, UDP and all
// (audit-checks §3.3).
//
// The EC2.19 ports are the 24 of the catalogue's table (20, 21, 22, 23, 25, 110, 135, 143,
// 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200,
// 9300). [UNCONFIRMED] against the Security Hub control page itself (not found in the stored
// docs, 2026-12); the list is the one third-party reproductions of EC2.19 carry.
var services = []service{
	{name: "SSH", ports: []uint16{22}, b: bucketAdmin, ec2_19: []uint16{22}},
	{name: "RDP", ports: []uint16{3389}, b: bucketAdmin, ec2_19: []uint16{3389}},
	{name: "FTP", ports: []uint16{20, 21}, b: bucketClearText, ec2_19: []uint16{20, 21}},
	{name: "Telnet", ports: []uint16{23}, b: bucketClearText, ec2_19: []uint16{23}},
	{name: "SMTP", ports: []uint16{25}, b: bucketClearText, ec2_19: []uint16{25}},
	{name: "DNS", ports: []uint16{53}, b: bucketInfra},
	{name: "Kerberos", ports: []uint16{88, 464, 749, 750}, b: bucketDirectory},
	{name: "POP3", ports: []uint16{110}, b: bucketClearText, ec2_19: []uint16{110}},
	{name: "IMAP", ports: []uint16{143}, b: bucketClearText, ec2_19: []uint16{143}},
	{name: "MS RPC", ports: []uint16{135}, b: bucketFile, ec2_19: []uint16{135}},
	{name: "NetBIOS/SMB", ports: []uint16{137, 138, 139, 445}, b: bucketFile, ec2_19: []uint16{445}},
	{name: "LDAP", ports: []uint16{389, 636}, b: bucketDirectory},
	{name: "NFS", ports: []uint16{2049}, b: bucketFile},
	{name: "MS SQL", ports: []uint16{1433, 1434}, b: bucketData, ec2_19: []uint16{1433, 1434}},
	{name: "Oracle", ports: []uint16{1521, 2483, 2484}, b: bucketData},
	{name: "MySQL", ports: []uint16{3306}, b: bucketData, ec2_19: []uint16{3306}},
	{name: "mSQL", ports: []uint16{4333}, b: bucketData, ec2_19: []uint16{4333}},
	{name: "PostgreSQL", ports: []uint16{5432}, b: bucketData, ec2_19: []uint16{5432}},
	{name: "Redis", ports: []uint16{6379}, b: bucketData},
	{name: "Memcached", ports: []uint16{11211}, b: bucketData},
	{name: "MongoDB", ports: []uint16{27017, 27018}, b: bucketData},
	{name: "Cassandra", ports: []uint16{7000, 7001, 7199, 9042, 9160}, b: bucketData},
	{name: "Elasticsearch/OpenSearch", ports: []uint16{9200, 9300}, b: bucketData, ec2_19: []uint16{9200, 9300}},
	{name: "Kibana/Dashboards", ports: []uint16{5601}, b: bucketData, ec2_19: []uint16{5601}},
	{name: "Kafka", ports: []uint16{9092}, b: bucketData},
	{name: "dev server/proxy/alt-HTTP", ports: []uint16{3000, 5000, 5500, 8080, 8088, 8888}, b: bucketDev,
		ec2_19: []uint16{3000, 5000, 5500, 8080, 8088, 8888}},
	{name: "HTTP", ports: []uint16{80}, b: bucketWeb},
	{name: "VNC", ports: []uint16{5900}, b: bucketAdminOurs},
	{name: "WinRM", ports: []uint16{5985, 5986}, b: bucketAdminOurs},
	{name: "Docker API", ports: []uint16{2375, 2376}, b: bucketAdminOurs},
	{name: "Kubernetes API", ports: []uint16{6443}, b: bucketAdminOurs},
	{name: "kubelet", ports: []uint16{10250}, b: bucketAdminOurs},
	{name: "etcd", ports: []uint16{2379}, b: bucketAdminOurs},
}

// servicePort is one port of a service.
type servicePort struct {
	service string
	port    uint16
}

// portsOf lists the ports the services of the buckets hold; with ec2_19, only those of the
// EC2.19 list (and every port of bucketAdminOurs, Stockade's addition to it).
func portsOf(ec2_19 bool, bs ...bucket) []servicePort {
	var out []servicePort
	for _, s := range services {
		ports := s.ports
		switch {
		case ec2_19 && s.b == bucketAdminOurs:
		case ec2_19:
			ports = s.ec2_19
		case !slices.Contains(bs, s.b):
			continue
		}
		for _, p := range ports {
			out = append(out, servicePort{s.name, p})
		}
	}
	return out
}

// serviceName names a port for a Why ("SSH"), "" when the table does not know it.
func serviceName(port uint16) string {
	for _, s := range services {
		for _, p := range s.ports {
			if p == port {
				return s.name
			}
		}
	}
	return ""
}
