import { z } from 'zod';
import { defineConnector } from '../platform/manifest';
import { int, schedule } from '../platform/settings';

export const compliance = defineConnector({
  id: 'compliance',
  name: 'Compliance actions for noncompliance',
  description: 'Notification templates and per-policy action schedules, run on devices that stay noncompliant.',
  setup:
    'Give a compliance policy an action schedule (Compliance actions > Policies and their action schedules), then run detection now or wait for the scheduled scan.',
  tables: ['cmpscans', 'cmptemplates', 'cmpbranding', 'cmpschedules', 'cmpdevices', 'cmpdue'],
  queues: ['cmp-jobs', 'cmp-actions'],
  containers: ['cmp-branding'],
  settings: {
    COMPLIANCE_SCAN_SCHEDULE: schedule('"0 */15 * * * *" for every 15 minutes').describe(
      'When compliance detection runs: devices newly noncompliant or compliant again, due actions dispatched (NCRONTAB, UTC).',
    ),
    COMPLIANCE_SENT_ITEMS_WAIT_SECONDS: int(0, 3600, 120).describe(
      "After an interrupted send, how long after it landed to keep looking in the sender's Sent Items (Exchange files the copy asynchronously) before sending again.",
    ),
    COMPLIANCE_MAIL_SENDER: z
      .email('a mailbox address of the tenant, e.g. it-compliance@contoso.com')
      .optional()
      .describe('Mailbox that sends noncompliance notifications; defaults to ALERT_MAIL_SENDER.'),
  },
  appRoles: [
    {
      value: 'Compliance.ReadWrite',
      displayName: 'Manage compliance actions',
      description: 'Manage notification templates, branding and compliance action schedules.',
    },
  ],
  graphPermissions: {
    'DeviceManagementManagedDevices.Read.All': 'read compliance state, management agent and device actions',
    'DeviceManagementManagedDevices.PrivilegedOperations.All': 'remotely lock a device that stays noncompliant',
    'DeviceManagementConfiguration.ReadWrite.All': 'read compliance policies and their per-device statuses',
    'User.Read.All': "the user's mail address and preferred language for notifications",
    'Mail.Send': 'notifications from COMPLIANCE_MAIL_SENDER',
    'Mail.Read':
      "after an interrupted send, look in the sender's Sent Items for the notification (by its extended property, which Mail.ReadBasic.All cannot see) before sending it again; scope it to that one mailbox with Exchange RBAC for Applications",
  },
});
