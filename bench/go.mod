module github.com/gopymalloc/gopymalloc/bench

go 1.26.0

require (
	github.com/gopymalloc/gopymalloc v0.0.0
	github.com/stretchr/testify v1.12.1
	modernc.org/memory v1.12.1
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/gopymalloc/gopymalloc => ../
