package inventory

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

// parseCSV reads a CSV file with a header row.
func (p *parser) parseCSV(text string) {
	r := csv.NewReader(strings.NewReader(text))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return // reported as an empty inventory
	}
	if err != nil {
		p.csvError(err)
		return
	}
	headerLine, _ := r.FieldPos(0)
	col := map[string]int{}
	bad := false
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !knownField(h) {
			p.errorf(headerLine, "unknown column %q (known: %s)", header[i], strings.Join(fieldNames, ", "))
			bad = true
			continue
		}
		if _, dup := col[h]; dup {
			p.errorf(headerLine, "column %q appears twice", h)
			bad = true
			continue
		}
		col[h] = i
	}
	if _, ok := col["name"]; !ok && !bad {
		p.errorf(headerLine, "header has no %q column", "name")
		bad = true
	}
	if bad {
		return
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			p.csvError(err)
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				continue // the record is complete, only its width is wrong: keep checking the rest
			}
			return
		}
		line, _ := r.FieldPos(0)
		fields := make([]field, 0, len(col))
		for _, key := range fieldNames {
			i, ok := col[key]
			if !ok {
				continue
			}
			v := strings.TrimSpace(rec[i])
			if v == "" && key != "name" {
				continue // empty cell: not set
			}
			fields = append(fields, field{key: key, value: v, line: line})
		}
		h, ok := p.build(fields, line, true)
		if ok {
			p.add(h, line)
		}
	}
}

func (p *parser) csvError(err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields (the header has a different count)"
		}
		p.errorf(pe.Line, "%s", msg)
		return
	}
	p.errorf(0, "%v", err)
}
