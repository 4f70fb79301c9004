// The registry side of the image store, for the CLI and the kube layer: login/logout, and
// credentials from kubernetes.io/dockerconfigjson Secrets. Pulls go through ImageStore.pull.
export { login, logout, type LoginOptions } from './login.js';
export {
  credentialsFromDockerConfigJson, defaultAuthFile, lookupCredentials, type Credentials, type FoundCredentials,
} from './auth.js';
export { RegistryError, type RegistryErrorReason } from './client.js';
export { loadRegistriesConf, registriesConfFiles, type RegistriesConf } from './registries-conf.js';
export type { PullOptions, PullPolicy, PullProgress } from './pull.js';
