from django import template

register = template.Library()


@register.filter
def seconds_or_unknown(seconds) -> str:
    """'about 4 min' for an estimate in seconds; 'not known yet' when there is none."""
    if seconds is None:
        return "not known yet"
    seconds = int(seconds)
    if seconds < 60:
        return f"about {seconds} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds // 3600} h {round(seconds % 3600 / 60)} min"
