package cloudinit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"

	"gopkg.in/yaml.v3"
)

// isMIME: cloud-init reads user data as a MIME message when it starts with a MIME header.
func isMIME(data []byte) bool {
	for _, h := range []string{"content-type:", "mime-version:"} {
		if len(data) >= len(h) && strings.EqualFold(string(data[:len(h)]), h) {
			return true
		}
	}
	return false
}

// maxParts bounds a message's parts (each costs a script file).
const maxParts = 64

// multipartPlan reads a multipart/mixed message: its text/cloud-config parts merged, its
// text/x-shellscript parts run in order after runcmd. Other parts are listed as ignored.
func multipartPlan(data []byte, in Instance) Plan {
	br := bufio.NewReader(bytes.NewReader(data))
	hdr, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil && err != io.EOF {
		return failing("user data is not a valid MIME message: " + err.Error())
	}
	mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return failing("user data is a MIME message but not multipart/mixed with a boundary")
	}
	r := multipart.NewReader(br, params["boundary"])
	var docs [][]*yaml.Node
	var parts []part
	var ignored []string
	for n := 0; ; n++ {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return failing("user data's MIME parts do not parse: " + err.Error())
		}
		if n >= maxParts {
			return failing("user data has more than 64 MIME parts")
		}
		content, err := io.ReadAll(io.LimitReader(partBody(p), MaxDecompressed+1))
		if err != nil {
			return failing("user data's MIME part " + p.Header.Get("Content-Type") + " does not decode: " + err.Error())
		}
		if gzipped(content) {
			if content, err = gunzip(content); err != nil {
				return failing("a gzip-compressed MIME part does not decompress: " + err.Error())
			}
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/cloud-config":
			m, err := mapping(content)
			if err != nil {
				return render(config{Errors: []string{err.Error()}}, nil, in)
			}
			docs = append(docs, m)
		case "text/x-shellscript":
			kind := Shell
			if bytes.HasPrefix(content, []byte("#!")) {
				kind = Exec
			}
			parts = append(parts, part{Kind: kind, Script: content})
		default:
			ignored = append(ignored, "MIME part "+printable(ct))
		}
	}
	c := decode(merge(docs...))
	c.Ignored = append(c.Ignored, ignored...)
	return render(c, parts, in)
}

// partBody undoes a part's Content-Transfer-Encoding (make-mime uses base64 for non-ASCII).
func partBody(p *multipart.Part) io.Reader {
	switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, p) // it skips line breaks
	case "quoted-printable":
		return quotedprintable.NewReader(p)
	}
	return p
}
