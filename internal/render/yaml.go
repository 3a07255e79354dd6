package render

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// YAML is the object as a YAML document, without server-populated fields
// (status, creationTimestamp), keys sorted.
func (o Object) YAML() ([]byte, error) {
	b, err := json.Marshal(o.Obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	// Status is the cluster's to write; rendered objects never carry one.
	delete(doc, "status")
	prune(doc)
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	return out, nil
}

// emptyNoise are keys whose empty value ({}) typed objects always carry
// although nothing was set (status, a Namespace's spec, a container's
// resources, a default update strategy). Other empty values stay: an empty
// podSelector means "every pod" and must be written out.
var emptyNoise = map[string]bool{"status": true, "spec": true, "resources": true, "strategy": true, "updateStrategy": true}

// prune removes server-populated and empty noise fields, at every depth
// (pod templates and claim templates carry their own metadata and status).
func prune(v any) {
	switch t := v.(type) {
	case map[string]any:
		if ts, ok := t["creationTimestamp"]; ok && ts == nil {
			delete(t, "creationTimestamp")
		}
		for k, child := range t {
			prune(child)
			if m, ok := child.(map[string]any); ok && len(m) == 0 && emptyNoise[k] {
				delete(t, k)
			}
		}
	case []any:
		for _, child := range t {
			prune(child)
		}
	}
}

// YAML is every object as one multi-document YAML stream, in apply order.
func (ms *Manifests) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range ms.Objects {
		b, err := o.YAML()
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
