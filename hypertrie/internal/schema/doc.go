// Package schema holds the protobuf messages hypertrie feeds are made of
// (Header, Node) and mountable-hypertrie's Mount record, generated from
// schema.proto. Package hypertrie wraps them in its own types.
package schema

// hypertrie.pb.go is generated with protoc and protoc-gen-go v1.36.12
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12) on PATH:
//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative hypertrie/internal/schema/hypertrie.proto
