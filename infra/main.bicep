targetScope = 'subscription'

// The whole app in a tenant's subscription: a Flex Consumption function app on Node 22 running as a
// user-assigned identity, identity-only storage, Key Vault for the secrets, Log Analytics and
// Application Insights without local auth. Deploy with `azd up` (see README).

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; resource names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Entra tenant the app serves: the tenant of the app registration (infra/entra/setup.js stores it as ENTRA_TENANT_ID).')
param entraTenantId string

@description('Client id of the app registration made by infra/entra/setup.js. It trusts the app identity (a federated credential, added after provisioning), so there is no client secret.')
param entraClientId string

@secure()
@description('32 random bytes, base64 (openssl rand -base64 32): encrypts connector secrets in Table Storage; stored in Key Vault.')
param secretsKey string

@description('Mailbox that sends alert emails through Graph; empty to only record alerts.')
param alertMailSender string = ''

@description('Client id of the TeamViewer app for remote assistance; empty until you create one.')
param teamViewerClientId string = ''

@secure()
@description('Client secret of that TeamViewer app; stored in Key Vault.')
param teamViewerClientSecret string = ''

@description('Mailbox that emails remote-assistance invitations to device users; empty to share links by hand.')
param remoteAssistanceMailSender string = ''

@description('Object id of a user or group allowed to manage the Key Vault secrets (optional).')
param principalId string = ''

@description('When the VPP licence sync runs (six-field NCRONTAB, UTC); daily at 03:00 by default.')
param vppSyncSchedule string = '0 0 3 * * *'

@description('When Intune is asked for VPP tokens the app has not seen, which are synced at once (six-field NCRONTAB, UTC).')
param vppDiscoverSchedule string = '0 */15 * * * *'

@description('When the nightly archive import runs (six-field NCRONTAB, UTC); daily at 01:00 by default.')
param archiveImportSchedule string = '0 0 1 * * *'

@description('When the TeamViewer connection reports are joined to the remote-assistance sessions (six-field NCRONTAB, UTC); hourly at :15 by default.')
param remoteAssistanceReportSchedule string = '0 15 * * * *'

@description('When compliance detection runs (six-field NCRONTAB, UTC).')
param complianceScanSchedule string = '0 */15 * * * *'

@description('When TEM block records are compared with the block groups and differences repaired (six-field NCRONTAB, UTC); hourly at :30 by default.')
param temReconcileSchedule string = '0 30 * * * *'

@description('Mailbox that sends noncompliance notifications; empty uses alertMailSender.')
param complianceMailSender string = ''

@description('Where low-licence alerts are emailed; empty for none.')
param vppAlertEmail string = ''

@minValue(1)
@maxValue(1000)
@description('Most instances the function app scales out to.')
param maximumInstanceCount int = 100

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-${resourceToken}'
var deploymentContainer = 'app-package-${functionAppName}'

// Everything the code reads and writes in Table, Queue and Blob Storage, as the connectors' manifests
// declare it (infra/connectors.json is built from them: npm run catalog).
var catalog = loadJsonContent('connectors.json')
var tables = catalog.tables
var queues = catalog.queues
var containers = concat([deploymentContainer], catalog.containers)

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    tables: tables
    queues: queues
    containers: containers
    dataPrincipalId: identity.outputs.principalId
  }
}

// The vault's name also derives from the identity's principal id, which Azure makes anew when the
// identity is created: after `azd down` the old vault waits out its purge protection (7 days) in the
// deleted state under its old name, and provisioning again creates a vault with a new one. A
// re-provision without `down` keeps the identity, so the same vault.
module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${uniqueString(resourceToken, identity.outputs.principalId)}'
    location: location
    tags: tags
    secretsKey: secretsKey
    teamViewerClientSecret: teamViewerClientSecret
    readerPrincipalId: identity.outputs.principalId
    adminPrincipalId: principalId
  }
}

// Every setting the app's configuration schema reads (shared/platform/config.ts), secrets as Key Vault
// references; the function app module adds PUBLIC_BASE_URL from the site's default host name.
var appSettings = union(
  {
    ENTRA_TENANT_ID: entraTenantId
    ENTRA_CLIENT_ID: entraClientId
    // Graph tokens: the app identity's token is the client assertion (no client secret).
    ENTRA_MANAGED_IDENTITY_CLIENT_ID: identity.outputs.clientId
    SECRETS_KEY: '@Microsoft.KeyVault(SecretUri=${vault.outputs.uri}secrets/secrets-key/)'
    ALERT_MAIL_SENDER: alertMailSender
    VPP_SYNC_SCHEDULE: vppSyncSchedule
    VPP_NEW_TOKENS_SCHEDULE: vppDiscoverSchedule
    ARCHIVE_IMPORT_SCHEDULE: archiveImportSchedule
    REMOTE_ASSISTANCE_REPORT_SCHEDULE: remoteAssistanceReportSchedule
    COMPLIANCE_SCAN_SCHEDULE: complianceScanSchedule
    TEM_RECONCILE_SCHEDULE: temReconcileSchedule
    COMPLIANCE_MAIL_SENDER: complianceMailSender
    VPP_ALERT_EMAIL: vppAlertEmail
    REMOTE_ASSISTANCE_MAIL_SENDER: remoteAssistanceMailSender
    TEAMVIEWER_CLIENT_ID: teamViewerClientId
  },
  empty(teamViewerClientSecret)
    ? {}
    : { TEAMVIEWER_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.outputs.uri}secrets/teamviewer-client-secret/)' }
)

module api 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainer
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: appSettings
    maximumInstanceCount: maximumInstanceCount
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
// The app registration trusts this identity (a federated credential, infra/hooks/postprovision.js).
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
