# quai — build, demo and test. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/quai
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/quai-dev/quai/internal/version.Version=$(VERSION) -X github.com/quai-dev/quai/internal/version.Commit=$(COMMIT)
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(shell $(GO) env GOPATH)/bin/golangci-lint
FUZZTIME ?= 30s

.PHONY: help build demo test unit lint fuzz bench clean deps docs man

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

build: ## build bin/quai
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/quai

demo: build ## deploy the example project on the process runtime and print its URL
	./scripts/demo.sh

deps: ## install what the tests need (Debian packages, linters)
	./scripts/deps.sh

test: deps lint unit fuzz ## everything CI runs: lint, unit + integration tests (-race), bounded fuzzing

unit:
	./scripts/test.sh

lint: $(GOLANGCI)
	$(GO) vet ./...
	$(GOLANGCI) run ./...
	cd examples/users-api && $(GO) vet ./... && $(GOLANGCI) run ./...

$(GOLANGCI):
	GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

fuzz: ## run every fuzz target for FUZZTIME each
	./scripts/fuzz.sh $(FUZZTIME)

bench: build ## print benchmark figures
	$(GO) test -run '^$$' -bench . -benchmem ./...

docs: ## regenerate docs/cli.md from the commands' help
	$(GO) run ./internal/clidocs/gen -md docs/cli.md

man: ## write man pages into build/man (man -M build/man quai)
	$(GO) run ./internal/clidocs/gen -man build/man

clean:
	rm -rf bin build
