/*
 * The batch engines' templates (deploy/): the Kubernetes manifest validated offline against the
 * Kubernetes API's schema (kubernetes-models, whose validators are generated from the API's
 * OpenAPI definitions), and checked to make one campaign (completions = parallelism =
 * SHOOTDOWN_SHARDS, one results volume and folder for the shards and the merge); the Slurm
 * template parsed by bash; the Dockerfile's image built from what the command needs. The Slurm
 * template itself is run by a real Slurm in test/cluster/slurm.sh (.ci/run).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';

const ROOT = new URL('../..', import.meta.url).pathname;
const MANIFEST = `${ROOT}deploy/k8s/run-all-job.yaml`;
const SBATCH = `${ROOT}deploy/slurm/run-all.sbatch`;

type Doc = any;

/** Each document validated against the schema of its kind; throws at the first invalid one. */
function validate(docs: Doc[]): void {
  for (const doc of docs) {
    const model = doc.apiVersion === 'batch/v1' && doc.kind === 'Job' ? new Job(doc) : doc.apiVersion === 'v1' && doc.kind === 'PersistentVolumeClaim' ? new PersistentVolumeClaim(doc) : null;
    if (!model) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
    model.validate();
  }
}

const manifest = (): Doc[] => parseAllDocuments(readFileSync(MANIFEST, 'utf8')).map((d) => d.toJS());

describe('deploy/k8s/run-all-job.yaml', () => {
  it('is valid against the Kubernetes schema, and the validator refuses a broken copy', () => {
    const docs = manifest();
    expect(docs.map((d) => d.kind)).toEqual(['PersistentVolumeClaim', 'Job', 'Job']);
    expect(() => validate(docs)).not.toThrow();
    const broken = manifest();
    broken[1].spec.completions = 'four';
    expect(() => validate(broken)).toThrow(/completions must be integer/);
    const badEnv = manifest();
    badEnv[2].spec.template.spec.containers[0].env[0].value = 1;
    expect(() => validate(badEnv)).toThrow(/value must be string/);
  });

  it('makes one campaign: an Indexed Job of N shards, and a merge of the same folder on the same volume', () => {
    const [claim, shards, merge] = manifest();
    expect(shards.spec).toMatchObject({ completionMode: 'Indexed' });
    const container = shards.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e: Doc) => [e.name, e.value]));
    expect(shards.spec.parallelism).toBe(shards.spec.completions);
    expect(Number(env.SHOOTDOWN_SHARDS)).toBe(shards.spec.completions);
    const mergeContainer = merge.spec.template.spec.containers[0];
    expect(mergeContainer.env).toContainEqual({ name: 'CAMPAIGN', value: env.CAMPAIGN });
    for (const job of [shards, merge]) {
      expect(job.spec.template.spec.volumes).toEqual([{ name: 'results', persistentVolumeClaim: { claimName: claim.metadata.name } }]);
      expect(job.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: 'results', mountPath: '/results' }]);
    }
    expect(container.args[0]).toMatch(/shootdown\.mjs run-all .*--seed \d+ --results "\/results\/\$CAMPAIGN"/);
    expect(mergeContainer.args[0]).toMatch(/shootdown\.mjs merge --watch "\/results\/\$CAMPAIGN"/);
  });
});

describe('deploy/slurm/run-all.sbatch and the Dockerfile', () => {
  it('the sbatch template is a job array that submits a merge after every task', () => {
    execFileSync('bash', ['-n', SBATCH]);
    const text = readFileSync(SBATCH, 'utf8');
    expect(text).toMatch(/^#SBATCH --array=0-\d+$/m);
    expect(text).toContain('--dependency="afterany:$SLURM_ARRAY_JOB_ID"');
    expect(text).toMatch(/run-all .*--seed "\$seed" --results "\$results"/);
  });

  it('the image is node:20-slim with npm ci, every file the command loads, and the command as entrypoint', () => {
    const text = readFileSync(`${ROOT}Dockerfile`, 'utf8');
    expect(text).toMatch(/^FROM node:20-slim$/m);
    expect(text).toMatch(/^RUN npm ci\b/m);
    expect(text).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/shootdown\.mjs"\]$/m);
    const copied = [...text.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(' '));
    for (const path of copied) expect(existsSync(`${ROOT}${path}`), path).toBe(true);
    // what the command imports at run time: its sources, the CPU workers, the native probe
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'bin', 'src', 'workers', 'bench/calibrate']));
  });
});
