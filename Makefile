# Postline. `make run` starts the local stack; `make test` runs the suite. Both set up the
# virtualenv first (pinned: requirements*.txt, every transitive version in constraints.txt).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
PACKAGE_DIR := build/package
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run test package deploy deploy-arguments bootstrap bench lint clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m local run

test: install
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Builds the deployable SAM template (Chalice's + infra/template.yaml), adds bytecode to the
# code package (infra/compile_package.py), finishes the template with what
# Chalice cannot express (infra/postprocess_sam.py), and lints it and its SAM-transformed
# CloudFormation. Works offline with no AWS credentials.
package: install
	rm -rf $(PACKAGE_DIR)
	POSTLINE_STAGE=$(STAGE) POSTLINE_RESOURCE_PREFIX=postline-$(STAGE)- \
	POSTLINE_SIGNING_SECRET=$${POSTLINE_SIGNING_SECRET:-only-for-packaging} \
	AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-offline} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-offline} \
	  $(VENV)/bin/chalice package --stage $(STAGE) --merge-template infra/template.yaml \
	  --template-format yaml $(PACKAGE_DIR)
	$(PY) infra/compile_package.py $(PACKAGE_DIR)/deployment.zip
	POSTLINE_RESOURCE_PREFIX=postline-$(STAGE)- $(PY) infra/postprocess_sam.py $(PACKAGE_DIR)/sam.yaml --translated $(PACKAGE_DIR)/translated.yaml
	$(VENV)/bin/cfn-lint $(PACKAGE_DIR)/sam.yaml $(PACKAGE_DIR)/translated.yaml

# Needs real AWS credentials and an S3 bucket for the code (docs/deploy.md):
#   make deploy STAGE=prod ARTIFACT_BUCKET=... SIGNING_SECRET=... [DOMAIN=postline.example.com CERTIFICATE_ARN=arn:...]
# Prints the DNS records of the four hosts once deployed.
deploy: deploy-arguments package
	aws cloudformation package --template-file $(PACKAGE_DIR)/sam.yaml \
	  --s3-bucket $(ARTIFACT_BUCKET) --output-template-file $(PACKAGE_DIR)/packaged.yaml
	aws cloudformation deploy --template-file $(PACKAGE_DIR)/packaged.yaml \
	  --stack-name postline-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
	  --parameter-overrides ResourcePrefix=postline-$(STAGE)- SigningSecret=$(SIGNING_SECRET) \
	  $(if $(DOMAIN),DomainName=$(DOMAIN) CertificateArn=$(CERTIFICATE_ARN))
	@echo "DNS records to create for the API hosts:"
	@aws cloudformation describe-stacks --stack-name postline-$(STAGE) --output text \
	  --query "Stacks[0].Outputs[?OutputKey=='DnsRecords'].OutputValue"

deploy-arguments:
	@test -n "$(ARTIFACT_BUCKET)" || (echo "set ARTIFACT_BUCKET=<s3 bucket for the code package>"; exit 2)
	@test -n "$(SIGNING_SECRET)" || (echo "set SIGNING_SECRET=<16+ random characters; signs unsubscribe links>"; exit 2)
	@test -z "$(DOMAIN)" -o -n "$(CERTIFICATE_ARN)" || (echo "DOMAIN needs CERTIFICATE_ARN (ACM, naming it and *.$(DOMAIN))"; exit 2)

# Once per deployment, after `make deploy`: the first owner account; prints its token once.
bootstrap: install
	@test -n "$(OWNER_EMAIL)" || (echo "set OWNER_EMAIL=<the owner's email address>"; exit 2)
	$(PY) infra/bootstrap.py --stack postline-$(STAGE) --owner-email $(OWNER_EMAIL)

# Every benchmark prints its figures and ends with `RESULT <name> <value> <unit> ratio=...`
# (bench/_*.py are shared helpers, not benchmarks). BENCH=name runs one.
bench: install
	@for b in $(if $(BENCH),bench/$(BENCH).py,$(filter-out bench/_%,$(wildcard bench/*.py))); do \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# ruff, then the import contracts in .importlinter (layers, no cycles, each capability's
# tables its own, chalicelib never importing local/ or app.py).
lint: install
	$(VENV)/bin/ruff check app.py chalicelib local tests bench infra
	$(VENV)/bin/lint-imports --no-logo --no-cache

clean:
	rm -rf $(VENV) build .postline
