# The shootdown command in a container, for the batch engines of deploy/ (a Kubernetes Indexed
# Job; Slurm with a container runtime):
#   docker build -t shootdown .
#   docker run --rm -v "$PWD/results:/results" shootdown stress ptep-clear-nonatomic --trials 100 --seed 1 --shard 0/4 --results /results
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
# the command runs its TypeScript through tsx, a dependency; vitest and the manifest validator are not needed
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY workers ./workers
COPY bench/calibrate ./bench/calibrate
COPY tsconfig.json ./
ENTRYPOINT ["node", "/app/bin/shootdown.mjs"]
CMD ["--help"]
