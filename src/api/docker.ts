// The Docker Engine API (v1.41 subset) that the docker CLI, docker-py and testcontainers use.
export {};
