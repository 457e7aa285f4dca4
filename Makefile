# The README's two commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/washout/v1/*.proto)
GENERATED := $(PROTOS:.proto=_pb2.py)

HOST ?= 0.0.0.0
PORT ?= 50051

.PHONY: install protos test run lint eval words bench soak clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Generated code is build output: this is the only target that writes it.
protos: $(GENERATED)

protos/washout/v1/%_pb2.py: protos/washout/v1/%.proto $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos --grpc_python_out=protos $<

test: protos
	$(BIN)/python -m pytest

run: protos
	$(BIN)/python -m server --host $(HOST) --port $(PORT) --data data

lint: protos
	$(BIN)/ruff check server client tests scripts
	$(BIN)/ruff format --check server client tests scripts
	$(BIN)/mypy
	npx --yes @bufbuild/buf@1.75.0 lint

eval: protos
	$(BIN)/python -m pip install --quiet -e '.[eval]'
	$(BIN)/python scripts/evaluate.py

# Regenerates data/everyday_words.txt (common words never read as a drug with confidence).
words: protos
	$(BIN)/python -m pip install --quiet -e '.[words]'
	$(BIN)/python scripts/everyday_words.py

# h2load (Debian's nghttp2-client) is an optional compiled load generator; without it the bench
# still runs, with its Python load client only.
bench: protos
	@command -v h2load >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get install -y -qq nghttp2-client >/dev/null 2>&1; } \
		|| echo "h2load not installed (apt-get install nghttp2-client): Python load client only"
	$(BIN)/python scripts/bench.py

soak: protos
	$(BIN)/python scripts/soak.py --clients 32 --seconds 60

clean:
	rm -rf $(VENV) protos/washout/v1/*_pb2*.py* .pytest_cache .mypy_cache .ruff_cache *.egg-info
