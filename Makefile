# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the etcd versions the suite runs against (comma separated); empty: the whole matrix
ETCD_VERSIONS ?=
export ETCD_VERSIONS

.PHONY: install demo etcd test bench specs check-specs docs clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,aio,server,docs]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) scripts/demo.py

# fetch (and cache) the etcd binaries of the matrix; fails loudly on any it cannot get
etcd: install
	$(PY) scripts/get-etcd $(if $(ETCD_VERSIONS),$(subst $(comma), ,$(ETCD_VERSIONS)),all)

# the whole suite, once per etcd version of the matrix
test: etcd
	$(PY) -m pytest tests -q -p no:cacheprovider

# the documentation (HTML in docs/_build/html), warnings as errors; the pages made from
# specs/ and the code are generated into docs/_generated/ by docs/_ext/etcd3_docs.py
docs: install
	$(PY) -m sphinx -b html -n -W --keep-going -q -d docs/_build/doctrees docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

bench: etcd
	$(PY) bench/bench_core.py
	$(PY) bench/bench_client.py
	$(PY) bench/bench_watch.py
	$(PY) bench/bench_lock.py
	$(PY) bench/bench_aio.py

specs:
	scripts/gen-specs

check-specs:
	scripts/gen-specs --check

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis docs/_build docs/_generated

comma := ,
