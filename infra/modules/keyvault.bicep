// Key Vault (RBAC) holding the app's secrets; the app identity reads them through Key Vault
// references in its settings. Purge protection keeps SECRETS_KEY (without it the connector secrets
// stored in tables cannot be read) recoverable for 7 days after a deletion.

param name string
param location string
param tags object = {}

@secure()
@description('Key that encrypts connector secrets stored in tables.')
param secretsKey string

@secure()
@description('Client secret of the TeamViewer app; empty for none.')
param teamViewerClientSecret string = ''

@description('Principal that reads the secrets (the app identity).')
param readerPrincipalId string

@description('Optional user or group that manages the secrets.')
param adminPrincipalId string = ''

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource encryptionKey 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = {
  parent: vault
  name: 'secrets-key'
  properties: { value: secretsKey }
}

resource teamViewerSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = if (!empty(teamViewerClientSecret)) {
  parent: vault
  name: 'teamviewer-client-secret'
  properties: { value: teamViewerClientSecret }
}

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource readerRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, readerPrincipalId, secretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource adminRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(adminPrincipalId)) {
  scope: vault
  name: guid(vault.id, adminPrincipalId, secretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficer)
    principalId: adminPrincipalId
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
