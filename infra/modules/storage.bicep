// The storage account: identity-only (shared keys off), the tables, queues and containers the app
// uses, and the data roles for the app identity.

param name string
param location string
param tags object = {}
param tables array = []
param queues array = []
param containers array = []

@description('Principal given blob, queue and table data roles (the app identity).')
param dataPrincipalId string

resource account 'Microsoft.Storage/storageAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' = {
  parent: account
  name: 'default'
}

resource containerResources 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = [for c in containers: {
  parent: blobService
  name: c
  properties: { publicAccess: 'None' }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-06-01' = {
  parent: account
  name: 'default'
}

resource queueResources 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-06-01' = [for q in queues: {
  parent: queueService
  name: q
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-06-01' = {
  parent: account
  name: 'default'
}

resource tableResources 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-06-01' = [for t in tables: {
  parent: tableService
  name: t
}]

// Storage Blob Data Owner, Storage Queue Data Contributor, Storage Table Data Contributor.
var dataRoles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
]

resource dataRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in dataRoles: {
  scope: account
  name: guid(account.id, dataPrincipalId, role)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
