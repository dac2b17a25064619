"""Each obligation state's next day of change (`ObligationState.changes_on`), so the nightly refresh works
out again only the subjects whose states change by then. The states stored before it are marked to be
worked out again at the next refresh (`REFRESH_NEXT`), which fills it in."""

import datetime

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('obligations', '0004_lists_read_in_order'),
    ]

    operations = [
        migrations.AddField(
            model_name='obligationstate',
            name='changes_on',
            # the stored states take the first day there is (`REFRESH_NEXT`); new ones take their own
            field=models.DateField(blank=True, default=datetime.date(1, 1, 1), help_text="The first day on which the state may read differently while the determination, the subject's facts and the records about it stay as they are (a period arising, a due date passing, a new quarter); empty when the date alone never changes it. The nightly refresh works out again only the subjects with a state changing by then or something new about them.", null=True),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name='obligationstate',
            index=models.Index(fields=['changes_on'], name='obligation_state_changes_on'),
        ),
    ]
