#!/usr/bin/env bash
# `make demo-production`: a shadow replay on bundled SPX data through the daemon, `otonom
# monitor`, and one rollout advance through a pull request on a local origin, with the CI gate
# on its branch. Runs in a scratch repository (printed at the end); this clone is not touched.
set -euo pipefail
PY=${PY:-python3}
SRC=$(pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/otonom-demo-production.XXXXXX")
REPO=$SCRATCH/repo
JOURNAL=sqlite:///$SCRATCH/journal.db
FEED=replay:SPX:2016-01-01:2018-12-31
otonom() { "$PY" -m otonom_trader.cli "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$REPO/deployments"
cp -r "$SRC/strategies" "$SRC/params.yaml" "$REPO/"
# The replay stands in for the shadow period: baseline_v1 entered shadow on its first bar.
cat > "$REPO/deployments/production.yaml" <<'EOF'
capital: 10000
strategies:
  # the demo's replay of SPX 2016-2018 is baseline_v1's shadow record, from its first bar
  - name: baseline_v1
    path: strategies/baseline_v1.yaml
    stage: shadow
    capital_pct: 0
    since: 2016-01-01
EOF
cd "$REPO"
git init -q -b main
git -c init.defaultBranch=main init -q --bare "$SCRATCH/origin.git"
git config user.name "otonom demo"
git config user.email "demo@otonom.invalid"
git config commit.gpgsign false
printf '/.otonom/\n' > .gitignore
git add -A && git commit -qm "demo: baseline_v1 in shadow"
git remote add origin "$SCRATCH/origin.git"
git push -q origin main

say "1. Shadow replay of $FEED through the daemon (paper fills; about 15 s)"
otonom daemon run --feed "$FEED" --speed 0 --journal "$JOURNAL" | tail -n 1

say "2. otonom monitor baseline_v1 (live record vs the test window it was validated on)"
otonom monitor baseline_v1 --journal "$JOURNAL"

say "3. otonom rollout advance baseline_v1, with params.yaml's rollout thresholds as shipped"
if otonom rollout advance baseline_v1 --journal "$JOURNAL"; then
  ADVANCED=1
else
  ADVANCED=0
  echo "-> refused (exit 1): the statistics above do not support the advance at these thresholds"
fi

if [ "$ADVANCED" = 0 ]; then
  say "4. The same record against a looser, stated bar: rollout.haircut 0.25"
  echo "   (the live Sharpe must be at least 0.25 x the expected one at 95%, instead of 0.5 x;"
  echo "    committed to params.yaml, where the CI gate reads it)"
  sed -i.bak 's/^\(  haircut:\) *0\.5 /\1 0.25/' params.yaml && rm -f params.yaml.bak
  grep -q '^  haircut: 0.25' params.yaml
  git commit -qam "demo: rollout.haircut 0.25"
  git push -q origin main
  otonom rollout advance baseline_v1 --journal "$JOURNAL"
fi

BRANCH=rollout/baseline_v1-advance-live10
say "5. The pull request's branch on the local origin, and its evidence"
git ls-remote origin "$BRANCH"
git show --stat --format='%s' "$BRANCH" | cat
git diff main "$BRANCH" -- deployments/production.yaml | cat

say "6. The CI gate on the pull request (otonom validate --changed --base main)"
git checkout -q "$BRANCH"
otonom validate --changed --base main --report-md "$SCRATCH/validation.md" | tail -n 1
grep -A1 'rollout shadow' "$SCRATCH/validation.md" | head -n 1 | cut -c1-200
git checkout -q main

printf '\nScratch repository: %s (origin: %s/origin.git)\n' "$REPO" "$SCRATCH"
