# agentOS tasks. Every recipe has a pnpm script equivalent (see package.json).
# `just` comes from the rust-just dev dependency: run `pnpm exec just <recipe>`
# or put node_modules/.bin on your PATH.

pnpm := "npx -y pnpm@10.34.9"

# List the recipes.
default:
    @just --list

# Install dependencies exactly as locked.
install:
    {{pnpm}} install --frozen-lockfile

# Regenerate every generated/ folder from proto/agentos/v1.
codegen:
    {{pnpm}} codegen

# Fail when generated code is stale.
codegen-check:
    {{pnpm}} codegen-check

# Generate, then build every package.
build:
    {{pnpm}} build

# Build, then run every test suite.
test:
    {{pnpm}} test

# The protocol conformance suite (AGENTOS_SIDECAR=<cmd> to test another sidecar).
conformance:
    {{pnpm}} conformance

# Build, then run the quickstart.
quickstart:
    {{pnpm}} quickstart

# Benchmarks: raw secure-exec against AgentOs + sidecar; writes bench/results/latest.json.
bench:
    {{pnpm}} bench

# Lint and format check.
lint:
    {{pnpm}} lint

# codegen-check, lint and type checks.
check:
    {{pnpm}} check
