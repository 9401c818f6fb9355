# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No network calls and no consent prompt from Kedro's telemetry plugin (CI has no stdin).
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: install run test lint bench mlflow-ui clean-data schedule airflow-dag train-distributed

# `make schedule`: when and on what the unattended retraining runs.
SOURCE_DIR ?=
CRON_TIME ?= 0 2 * * *
# KEDRO_ENV=<env> (as `make mlflow-ui` reads it): the entry and the DAGs run that environment, its settings,
# data_root and MLflow store (cron's and Airflow's runs have no KEDRO_ENV: the entry ran `local`), and the
# entry's tag names it, so it sits beside the default environment's. An environment with no conf/<env>/ stops
# make, as a night's run would have stopped.
RUN_ENV := $(filter-out local,$(KEDRO_ENV))
ENV_OPTION := $(if $(RUN_ENV), --env=$(RUN_ENV))
ENVIRONMENTS = $(filter-out base,$(patsubst conf/%/,%,$(wildcard conf/*/)))
refuse_env = $(if $(RUN_ENV),$(if $(filter-out $(ENVIRONMENTS),$(RUN_ENV)),$(error KEDRO_ENV=$(KEDRO_ENV): \
	this project has no such environment (conf/<env>/: $(ENVIRONMENTS)))))
CRON_TAG := \# crack_pipeline retrain $(CURDIR)$(if $(RUN_ENV), env $(RUN_ENV))
# Make's functions split words at spaces: a folder named with spaces ("Bridge photos") is made absolute whole
# (its spaces stood in for), and quoted where the shell reads it, as is the project's folder.
SPACE := $(subst ,, )
absolute = $(subst <space>,$(SPACE),$(abspath $(subst $(SPACE),<space>,$(1))))
# Kedro reads a --params value as YAML: a name goes single-quoted, its quotes doubled (bare, "Pier #3" was
# "Pier", the rest a comment, "x: y" a mapping and 2024 a number), a folder absolute too. It splits the option
# at every comma, with no escape: `make schedule` refuses a folder named with one.
param_text = '$(subst ','',$(1))'
param_path = $(call param_text,$(call absolute,$(1)))
# What `echo` prints as it is, in single quotes (its own closed and reopened around each).
shell_quoted = '$(subst ','\'',$(1))'
RETRAIN := $(BIN)/kedro run --pipelines=retrain$(ENV_OPTION)$(if $(SOURCE_DIR), "--params=data.source_dir=$(call param_path,$(SOURCE_DIR))")
# KEEP=N: after a run that ends well, all but the newest N versions of every output and of each variant's
# registered models are removed (kedro prune --models).
KEEP ?=
# An environment's console output in a file of its own (its per-run log files are named with it too).
CRON_OUT := >>logs/retrain/cron$(if $(RUN_ENV),_$(RUN_ENV)).out 2>&1
PRUNE := $(if $(KEEP), && KEDRO_DISABLE_TELEMETRY=1 $(BIN)/kedro prune --keep $(KEEP) --models --yes$(ENV_OPTION) $(CRON_OUT))
# cron makes a bare % of the command a new line: escaped (cron removes the backslash).
CRON_LINE := $(subst %,\%,$(CRON_TIME) cd "$(CURDIR)" && mkdir -p logs/retrain && KEDRO_DISABLE_TELEMETRY=1 $(RETRAIN) $(CRON_OUT)$(PRUNE) $(CRON_TAG))
COMMA := ,
# SOURCE_DIR in an environment whose settings list its folders (data.sources) stops make: its runs refuse
# data.source_dir, and the entry or DAG would have failed every night; so does an environment whose settings
# cannot be read (scheduled_source prints that refusal too). Read with the project's Python (make install;
# without it, the run says so itself: its errors alone are thrown away).
source_refusal = $(if $(SOURCE_DIR),$(shell $(BIN)/python -m crack_pipeline.scheduled_source \
	$(or $(RUN_ENV),local) $(call shell_quoted,$(SOURCE_DIR)) 2>/dev/null))
# Through call, which expands source_refusal (the project's Python) once.
refuse_listed_sources = $(call refuse_with,$(source_refusal))
refuse_with = $(if $(1),$(error $(1)))
# A folder a recipe hands on stops make, with a message, where it cannot reach the command whole: named with a
# double quote, a backquote, a backslash or a dollar sign (make expands a $$: SOURCE_DIR='/srv/a$$b' was
# /srv/a; the shell the others, inside the double quotes the commands give it: a backquoted name ran as a
# command every night), or, where Kedro's --params takes it ($(2) not empty), a comma. Checked as make reads
# the recipe, so `make -n` stops too. $(1): the variable (CURDIR: the project's folder).
folder_named = $(if $(filter CURDIR,$(1)),the project's folder,$(1))
unquotable = $(strip $(foreach mark,\ " ` $$,$(findstring $(mark),$(value $(1)))))
refuse_folder = $(if $(call unquotable,$(1)),$(error $(call folder_named,$(1)): make and the shell \
	cannot pass a folder named with $(call unquotable,$(1)) whole (they read it as their own): rename it$(COMMA) \
	or give a link to it (ln -s)))$(if $(2),$(if $(findstring $(COMMA),$(value $(1))),$(error \
	$(call folder_named,$(1)): kedro's --params cannot pass a folder named with a comma: rename it$(COMMA) or \
	give a link to it (ln -s))))

install: $(STAMP)

# Reinstalls only when the dependency list changes (the project itself is installed editable).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/kedro run

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/explain_throughput.py
	$(BIN)/python bench/precision.py     # ~4 min
	$(BIN)/python bench/cam_layers.py    # needs a trained run (make run)
	$(BIN)/python bench/photo_explain.py # needs a trained run (make run)
	$(BIN)/python bench/augmentations.py # needs ../shared/data; ~15 min

# The train pipeline (every variant defined under train.models; VARIANTS=a,b for some) on NPROC replicas
# each (DistributedDataParallel under torchrun's launcher: gloo on CPUs, one GPU each with NCCL); the
# checkpoints and MLflow runs are written once, as by one process.
NPROC ?= 2
VARIANTS ?=
train-distributed: install
	$(BIN)/kedro run --pipelines=train --params=train.processes=$(NPROC)$(if $(VARIANTS), --namespaces=$(VARIANTS))

# `make mlflow-ui` browses the default environment's MLflow store; KEDRO_ENV=general (or ozgenel) its own.
# The store is read from the environment's mlflow.yml (marked: Kedro logs on stdout when imported); none
# found (an unknown environment, no store set) stops here instead of opening another store. Runs shown
# running whose kedro run was killed (their lock in data/runs/ held by no process) are marked KILLED first.
MLFLOW_ENV = $(or $(KEDRO_ENV),local)
CLOSE_KILLED = import sys, pathlib, mlflow; from crack_pipeline.live_runs import close_abandoned_runs; \
	close_abandoned_runs(pathlib.Path.cwd(), "make mlflow-ui", mlflow.MlflowClient(sys.argv[1]))
mlflow-ui: install
	@store=$$($(BIN)/python -c 'import sys; from crack_pipeline.config import tracking_uri; print("store=" + tracking_uri(sys.argv[1]))' $(MLFLOW_ENV) 2>/dev/null | sed -n 's/^store=//p'); \
	test -n "$$store" || { echo "make mlflow-ui: no MLflow store for environment $(MLFLOW_ENV) (conf/$(MLFLOW_ENV)/mlflow.yml)" >&2; exit 1; }; \
	if ls data/runs/*.lock >/dev/null 2>&1; then $(BIN)/python -c '$(CLOSE_KILLED)' "$$store"; fi; \
	$(BIN)/mlflow ui --backend-store-uri "$$store"

# `make clean-data`: every output under data/ (each environment's checkpoints, splits, evaluations,
# explanations, surveys), listed, then removed once you say so (YES=1: without asking). Kept: data/01_raw (the
# photos: synthetic and fetched data sets), the lock files (one removed while held let a second retrain run
# beside the first; a killed run's in data/runs/ is how a later run knows to close its MLflow run) and the
# MLflow store. Refused while a kedro run or prune holds data/'s locks.
CLEAN_DATA := git clean -dX -e '!/data/01_raw/**' -e '!/data/*.lock' -e '!/data/runs/*.lock' data/
BUSY := 75
clean-data:
	@listed=$$($(CLEAN_DATA) -n | sed 's/^Would remove /removes /'); \
	test -n "$$listed" || { echo "make clean-data: nothing to remove"; exit 0; }; \
	echo "$$listed"; \
	if [ "$(YES)" != 1 ]; then printf 'remove them (data/01_raw and the MLflow store stay)? [y/N] '; \
		read -r answer || answer=; [ "$$answer" = y ] || { echo "nothing removed"; exit 1; }; fi; \
	flock -n -E $(BUSY) data/retrain.lock flock -n -E $(BUSY) data/versions.lock $(CLEAN_DATA) -f -q; \
	status=$$?; [ $$status -ne $(BUSY) ] || echo "make clean-data: a kedro run (or kedro prune) is using \
	data/: nothing removed; run it again once it has finished" >&2; exit $$status

# Prints the cron entry of the nightly retrain; INSTALL=1 also puts it into your crontab (replacing
# this project's earlier entry). SOURCE_DIR=<folder of photos>, CRON_TIME='<cron schedule>', KEEP=<versions>.
schedule:
	@case '$(KEEP)' in *[!0-9]*|0*) echo "KEEP must be a whole number of at least 1, not '$(KEEP)'" >&2; exit 1;; esac
# What cron takes, field by field (its numbers, its names, lists, ranges, steps) or one of its @ words: '0 2 * *'
# printed an entry whose command began at its '* cd', and '0 2 * * foo' one cron drops without a word.
	@$(PYTHON) src/crack_pipeline/cron_time.py $(call shell_quoted,$(CRON_TIME))
	$(call refuse_folder,SOURCE_DIR,commas)$(call refuse_folder,CURDIR)$(refuse_env)$(refuse_listed_sources)
	@echo $(call shell_quoted,$(CRON_LINE))
ifeq ($(INSTALL),1)
	@test -x $(BIN)/kedro || { echo "no $(BIN)/kedro: run 'make install' first" >&2; exit 1; }
	@command -v crontab >/dev/null || { echo "crontab not found: install cron (Debian: apt-get install cron)" >&2; exit 1; }
# This project's entry is the line that ends with its tag: a match anywhere (grep -F) also took the entry of a
# project whose folder's name begins with this one's (crack_pipeline_bridges beside crack_pipeline).
	@{ crontab -l 2>/dev/null | tag=$(call shell_quoted,$(subst %,\%,$(CRON_TAG))) awk 'substr($$0, length($$0) - length(ENVIRON["tag"]) + 1) != ENVIRON["tag"]'; \
		echo $(call shell_quoted,$(CRON_LINE)); } | crontab -
	@echo "installed: crontab -l shows it; logs/retrain/ has one log file per run"
endif

# Two Airflow DAGs (kedro-airflow; settings in conf/base/airflow.yml): the retrain pipeline as one task, and
# a survey of INPUT_DIR (named SURVEY) as SHARDS parallel tasks and a merge.
INPUT_DIR ?=
SURVEY ?= survey
SHARDS ?= 4
# SHARDS not a whole number of at least 1 stops make (`make -n` too): the DAG's template reads it as a number,
# and SHARDS=x (or 0) wrote a survey DAG of no shard tasks, whose merge then found no photo explained.
non_digits = $(strip $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(1))))))))))))
refuse_count = $(if $(or $(call non_digits,$(value $(1))),$(filter 0%,$(value $(1))),$(filter-out 1,$(words \
	$(value $(1))))),$(error $(1) must be a whole number of at least 1$(COMMA) not '$(value $(1))'))
airflow-dag: install
	$(foreach folder,SOURCE_DIR INPUT_DIR CURDIR SURVEY,$(call refuse_folder,$(folder),commas))$(call refuse_count,SHARDS)$(refuse_env)$(refuse_listed_sources)
	$(BIN)/kedro airflow create --pipelines=retrain --target-dir=airflow_dags$(ENV_OPTION) \
		--jinja-file=src/crack_pipeline/airflow_retrain_dag.j2 \
		"--params=project_path=$(call param_path,$(CURDIR))$(if $(SOURCE_DIR),$(COMMA)source_dir=$(call param_path,$(SOURCE_DIR)))"
	$(BIN)/kedro airflow create --pipelines=survey --target-dir=airflow_dags$(ENV_OPTION) \
		--jinja-file=src/crack_pipeline/airflow_survey_dag.j2 \
		"--params=project_path=$(call param_path,$(CURDIR)),survey=$(call param_text,$(SURVEY)),shards=$(SHARDS)$(if $(INPUT_DIR),$(COMMA)input_dir=$(call param_path,$(INPUT_DIR)))"
