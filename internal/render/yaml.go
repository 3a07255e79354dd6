package render

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v2"
)

// YAML is the object as a YAML document, without server-populated fields
// (status, creationTimestamp), keys sorted. The encoding is the one
// sigs.k8s.io/yaml (and so kubectl) produces: JSON through the typed
// object's tags, read back by yaml.v2 so numbers keep their types; only the
// pruning happens in between.
func (o Object) YAML() ([]byte, error) {
	doc, err := o.tree()
	if err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	return out, nil
}

// tree is the object as the generic YAML tree YAML encodes: JSON through
// the typed object's tags read back by yaml.v2, pruned.
func (o Object) tree() (map[any]any, error) {
	b, err := json.Marshal(o.Obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	var doc map[any]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	// Status is the cluster's to write; rendered objects never carry one.
	delete(doc, "status")
	prune(doc)
	return doc, nil
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
	case map[any]any:
		if ts, ok := t["creationTimestamp"]; ok && ts == nil {
			delete(t, "creationTimestamp")
		}
		for k, child := range t {
			prune(child)
			if m, ok := child.(map[any]any); ok && len(m) == 0 {
				if key, isStr := k.(string); isStr && emptyNoise[key] {
					delete(t, k)
				}
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
