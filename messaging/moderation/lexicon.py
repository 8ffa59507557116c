"""Word lists and phrase patterns of the detectors (es / pt / en), kept apart from the logic.

How staff add a pattern: docs/messaging/moderation.md ("Adding a pattern"). Entries are written
lower case, without accents, in plain letters: the text they are matched against has been
normalised (case, accents, confusables, leet in keywords) and, for the harassment lexicon,
squeezed (repeated letters collapsed, symbols inside words removed), so "puuuta", "p.u.t.a" and
"pu7a" all meet the entry "puta". Multi-word entries match across any short run of spaces or
punctuation. Word boundaries are always enforced: "computadora" never matches "puta".
"""

from __future__ import annotations

#: near a digit run they make 7+ digits a phone even when no region validates it
CONTACT_WORDS: tuple[str, ...] = (
    # es
    "llamame", "llamar", "llama", "llamen", "marcame", "telefono", "tel", "telf", "cel",
    "celular", "movil", "numero", "nro", "num", "contacto", "escribime", "escribeme", "whats",
    "whatsapp", "wsp", "wpp", "wa", "guasap", "watsap", "wasap",
    # pt
    "me liga", "liga", "ligar", "ligue", "chama", "me chama", "fone", "telefone", "contato",
    "zap", "zapzap", "zapp", "numero", "celular", "cel",
    # en
    "call me", "call", "text me", "text", "phone", "mobile", "cell", "number", "reach me",
    "telegram", "signal", "sms",
)  # fmt: skip

#: stems of contact verbs in any person ("llamás", "llamame", "escribime", "ligue", "chama")
CONTACT_STEMS: tuple[str, ...] = (
    "llam", "escrib", "marca(?:me|le|nos|r|s)", "telef", "celu", "contact", "contat", "whats",
    "wasap", "guasap", "lig(?:a|ue|ar)", "cham(?:a|e)", "fone", "texte",
)  # fmt: skip

#: words quoting a platform or carrier reference: a digit run after one is that reference, not a
#: phone, unless a contact word other than a generic "number" is near ("guia 5830172946")
REFERENCE_WORDS: tuple[str, ...] = (
    "pedido", "orden", "ordem", "order", "compra", "purchase", "guia", "tracking", "rastreio",
    "rastreamento", "rastreo", "seguimiento", "protocolo", "protocol", "boleto", "folio",
    "ticket", "factura", "fatura", "nota fiscal", "comprobante", "transaccion", "referencia",
    "reference", "envio", "codigo de barras", "linha digitavel", "invoice", "chamado",
    "reclamo", "caso", "sku", "item", "producto", "produto", "product", "modelo", "model",
    "serial", "confirmation", "confirmacion", "confirmacao", "localizador", "reserva",
    "booking", "voucher", "cupon", "cupom", "coupon",
)  # fmt: skip
#: contact words that also name references ("numero de orden"): they alone do not make a phone
GENERIC_CONTACT_WORDS: frozenset[str] = frozenset({"numero", "number", "nro", "num"})

_CHANNELS = (
    r"(?:whatsapp|whats|wsp|wpp|wasap|guasap|watsap|zapzap|zap|telegram|signal|numero|"
    r"number|cel|celular|cell|movil|telefono|telefone|fone|phone(?: number)?|contato|"
    r"contacto|digits)"
)
#: asking the other party for a phone or moving the chat to a messenger without giving a
#: number: an off-platform attempt, CONTACT_PHONE over the phrase (redacted). Regular
#: expressions over the normalised text; every repetition bounded.
SOLICITATION_PHRASES: tuple[str, ...] = (
    # es: "pasame tu whats", "dame tu numero", "te marco al cel", "hablamos por wsp"
    rf"(?:pasa|pasame|pasas|dame|das|manda|mandame|envia|enviame|compart[a-z]{{0,4}}) "
    rf"(?:[a-z]{{1,6}} )?(?:tu|su) {_CHANNELS}",
    r"(?:hablamos|seguimos|hablemos|sigamos|escribime|escribeme|llamame|te escribo|te llamo|"
    r"te marco) (?:[a-z]{1,6} )?(?:por|al|en el|a tu|por el) "
    r"(?:whatsapp|whats|wsp|wpp|wasap|guasap|telegram|cel|celular)",
    # pt: "me passa teu zap", "chama no zap", "vamos pro zap"
    rf"(?:passa|me passa|manda|me manda|envia|me envia|me da|da) (?:o |a )?(?:teu|seu|tua|sua) "
    rf"{_CHANNELS}",
    r"(?:chama|me chama|me liga|liga|me chame|me ligue|fala comigo|me add|me adiciona|"
    r"te chamo|te ligo) (?:[a-z]{1,6} )?(?:no|pelo|pro) (?:zap|zapzap|whats|whatsapp|wpp|"
    r"telegram)",
    r"(?:vamos|bora) (?:pro|para o|pelo) (?:zap|zapzap|whats|whatsapp|wpp|telegram)",
    # en: "send me your whatsapp", "give me your number", "text me on telegram"
    rf"(?:send|give|text|dm|share)(?: me)? your {_CHANNELS}",
    r"(?:text|call|message|hit|ping) me (?:up )?(?:on|at|via|over) (?:whatsapp|whats|telegram|"
    r"signal)",
    r"(?:move|switch|talk|continue) (?:this |the chat )?(?:to|on|over) (?:whatsapp|telegram|"
    r"signal)",
)

#: words that may sit between the digit groups of a phone told in prose ("11, después 5294 y al
#: final 3867"); with no contact word near, other words between groups (a noun: "fila 12,
#: asientos 3456") keep them apart. Words inside parentheses are asides and always allowed.
SEQUENCE_WORDS: frozenset[str] = frozenset(
    {
        # es
        "y", "e", "el", "la", "los", "las", "al", "a", "de", "del", "con", "es", "son", "luego",
        "despues", "primero", "primeros", "primera", "segundo", "sigue", "siguen", "siguiente",
        "final", "fin", "ultimo", "ultimos", "ultima", "termina", "terminan", "empieza",
        "arranca", "cierra", "acaba", "medio", "resto", "otro", "otros", "mas", "ok",
        # pt
        "o", "os", "as", "do", "da", "com", "sao", "depois", "comeca", "comecam", "segue",
        "fecha", "meio", "fim", "primeiro", "primeiros", "entao", "mais",
        # en
        "and", "then", "the", "first", "next", "last", "after", "that", "end", "ends", "with",
        "is", "are", "rest", "middle", "finally", "plus",
        # area code words
        "ddd", "lada", "area", "code", "codigo", "prefijo", "prefixo", "caracteristica",
    }
)  # fmt: skip

#: words naming an area code: a short group after one may be said last ("..., ddd 21")
AREA_CODE_WORDS: tuple[str, ...] = (
    "ddd", "lada", "area code", "codigo de area", "cod area", "caracteristica", "prefijo",
    "prefixo",
)  # fmt: skip

#: platforms: a handle-like token next to one of these is a CONTACT_HANDLE
PLATFORM_WORDS: tuple[str, ...] = (
    "instagram", "insta", "ig", "telegram", "tg", "whatsapp", "whats", "wpp", "wsp", "zap",
    "zapzap", "facebook", "face", "fb", "tiktok", "tik tok", "snapchat", "snap", "twitter",
    "threads", "discord", "kik", "skype", "messenger", "signal",
)  # fmt: skip

#: words between a platform word and the handle that do not end the search
HANDLE_FILLERS: frozenset[str] = frozenset(
    {
        "es", "e", "eh", "is", "me", "mi", "meu", "minha", "my", "no", "na", "en", "on", "in",
        "el", "la", "o", "a", "as", "como", "user", "usuario", "perfil", "profile", "sigueme",
        "segue", "seguime", "follow", "add", "agrega", "agregame", "adiciona", "ahi", "ai",
        "aqui", "here", "it", "its", "de", "do", "da", "del", "mio", "mia", "nome", "nombre",
        "name", "handle", "arroba", "buscame", "procura", "search", "find", "at", "por",
        "pelo", "via", "to", "y", "and", "tambem", "tambien", "also", "soy", "sou", "am",
        "i", "im",
    }
)  # fmt: skip
#: words that read as a statement about the handle ("mi insta es X", "my ig: X")
HANDLE_COPULAS: frozenset[str] = frozenset({"es", "e", "eh", "is", "seria", "sou", "soy"})
#: ordinary words never taken as a handle after a platform word
HANDLE_STOPWORDS: frozenset[str] = frozenset(
    {
        "que", "para", "pra", "por", "pero", "mas", "mais", "muy", "muito", "bien", "bem",
        "the", "and", "but", "ok", "okay", "si", "sim", "nao", "yes", "not", "nada", "todo",
        "tudo", "hoy", "hoje", "ayer", "ontem", "manana", "amanha", "today", "tomorrow",
        "yesterday", "porque", "because", "gracias", "obrigado", "obrigada", "thanks",
        "cuenta", "conta", "account", "privado", "private", "mensaje", "mensagem", "message",
        "mismo", "mesmo", "same", "tambien", "tambem", "also", "nunca", "never", "ya", "ja",
        "despues", "depois", "later", "ahora", "agora", "now", "foto", "fotos", "photo",
        "grupo", "group", "link", "story", "stories", "post", "dm", "direct", "chat",
        "numero", "number", "celular", "telefone", "telefono", "entonces", "entao",
    }
)  # fmt: skip

#: phrases that propose paying or moving the deal outside the platform (PAYMENT_BYPASS)
PAYMENT_PHRASES: tuple[str, ...] = (
    # es
    r"transferencia directa", r"transferencia por a?fuera", r"te hago (?:una )?transferencia",
    r"te transfiero", r"deposito directo", r"por fuera de la (?:app|aplicacion|plataforma|pagina)",
    r"fuera de la (?:app|aplicacion|plataforma|pagina)",
    r"(?:pag|cobr|arregl|negoci|vend|compr|transfer|hac|hag)[a-z]{0,6} (?:[a-z]{1,8} )?por a?fuera",
    r"sin comision",
    r"sin comisiones", r"sin pagar (?:la )?comision", r"pagame directo", r"te pago directo",
    r"pago directo", r"te paso (?:mi|el|un) (?:cbu|cvu|alias|clabe|numero de cuenta|cuenta)",
    r"mi (?:cbu|cvu|clabe) es", r"arreglamos (?:por a?fuera|aparte|entre nosotros)",
    r"cancela (?:el|tu) pedido y te",
    r"(?:pagame|me pagas|me pagan|aboname|me abonas|pagarme) (?:[a-z]{1,8} )?en efectivo",
    r"(?:deposit|transfi?er)[a-z]{0,4} (?:[a-z]{1,13} ){0,2}(?:a|en) (?:mi|mis) "
    r"(?:cuenta|cbu|cvu|clabe)",
    r"(?:transfi?er|deposit|pag)[a-z]{0,4} (?:directo|directamente)(?! (?:por|en|desde|con) "
    r"(?:la |el )?(?:app|aplicacion|plataforma|pagina))",
    # a payment instrument offered "por fuera" / "por fora" ("te mando un boleto por fora")
    r"(?:boleto|pix|chave|link|transferencia|deposito|cobranca|cobro|pago|pagamento|plata|"
    r"lana|grana|dinheiro)(?: [a-z1]{1,10}){0,3} por (?:fora|a?fuera)",
    # "no need to pay through the app" (es / pt / en)
    r"(?:nao precisa|sem precisar|no hace falta|no necesitas|no tenes que|no tienes que|"
    r"no need to|don'?t need to|dont have to|don'?t have to)(?: de)?(?: [a-z]{1,8})? "
    r"(?:pagar|pay)(?: [a-z]{1,8})? (?:pelo|pela|por la|por el|en la|through the|in the|"
    r"on the|via|by the|with the) (?:app|aplicativo|aplicacion|plataforma|platform|site|pagina)",
    r"(?:asi|ya|y|entonces) no (?:pagas|pagar|pagues|pagamos|pagan) (?:la |las )?"
    r"(?:comision|comisiones)",
    r"(?:te mando|te paso|te envio|te genero|te comparto|te hago) (?:[a-z1]{1,3} )?"
    r"link de (?:pago|cobro)",
    r"(?:directo|directamente) conmigo",
    # pt
    r"(?:me paga|paga|pagar|me pagar) (?:[a-z]{1,8} )?em (?:dinheiro|especie)",
    r"(?:transfer|deposit|pag)[a-z]{0,4} direto(?! (?:pelo|no|na|via|pela) "
    r"(?:app|aplicativo|plataforma|site))",
    r"(?:te mando|te passo|te envio|vou mandar|gero) (?:[a-z1]{1,3} )?"
    r"link de (?:pagamento|cobranca)",
    r"direto comigo",
    r"(?:faz|faca|manda|fazer) (?:1 |um |uma |o )?(?:ted|doc)",
    r"sem (?:a |as )?(?:taxa|taxas|comissao)",
    # en
    r"(?:venmo|zelle|cash ?app|paypal|cashapp) me", r"forget (?:the|this) (?:app|platform)",
    r"not through (?:here|the app|this app|the platform)", r"pay (?:me )?there instead",
    r"skip (?:the|this) (?:app|platform|fees?)",
    r"(?:pay|send|transfer)[a-z]{0,3} (?:it |the money |the rest )?directly (?:to|with) me",
    r"(?:send|give|text|make) (?:you )?(?:[a-z]{1,3} )?pay(?:ment)? link", r"pay me (?:in )?cash",
    # pt
    r"(?:pag|cobr|acert|negoci|vend|compr|transfer|fech|faz|fac)[a-z]{0,6} "
    r"(?:[a-z]{1,8} )?por fora",
    r"fora (?:do|da) "
    r"(?:app|aplicativo|plataforma|site)", r"sem (?:taxa|taxas|comissao)", r"pix direto",
    r"me (?:manda|passa|faz|envia) (?:um |o )?pix", r"faz (?:um |o )?pix", r"manda (?:um |o )?pix",
    r"meu pix", r"minha chave(?: pix)?", r"chave pix", r"te pago direto", r"paga direto",
    r"pagamento direto", r"transferencia direta", r"deposito direto",
    # en
    r"outside (?:the|this) (?:app|platform|site)", r"off (?:the )?(?:app|platform)",
    r"pay (?:me |you )?directly", r"direct (?:transfer|payment|deposit)", r"without (?:the )?fees?",
    r"avoid (?:the )?fees?", r"no (?:platform )?fees?", r"send (?:me )?the money (?:directly|to)",
)  # fmt: skip
#: payment services; a mention counts when a paying/collecting verb is near (PAYMENT_BYPASS)
PAYMENT_APPS: tuple[str, ...] = (
    "paypal", "venmo", "zelle", "mercado pago", "mercadopago", "mp", "nequi", "cash app",
    "cashapp", "western union", "binance", "picpay", "uala", "naranja x", "brubank", "nubank",
    "spei", "oxxo", "daviplata", "wise", "payoneer", "revolut", "pix", "usdt", "bitcoin",
    "btc", "cripto", "crypto",
)  # fmt: skip
PAYMENT_VERBS: tuple[str, ...] = (
    # es
    "te pago", "pagame", "pagarme", "me pagas", "te cobro", "cobrarte", "te transfiero",
    "transferime", "transferirme", "mandame", "enviame", "depositame", "te paso",
    "mi cuenta", "a mi cuenta",
    # pt
    "me paga", "me manda", "me passa", "transfere", "deposita", "me transfere",
    "minha conta",
    # en
    "pay me", "pay you", "i'll pay", "ill pay", "send me", "send it", "my account",
)  # fmt: skip

#: insults and slurs, matched anywhere as whole words (with plural/gender endings)
INSULTS: tuple[str, ...] = (
    # es
    "idiota", "estupido", "estupida", "imbecil", "pelotudo", "pelotuda", "forro", "forra",
    "hijo de puta", "hija de puta", "hdp", "hijueputa", "puta", "puto", "mierda",
    "concha de tu madre", "concha de tu hermana", "ctm", "la puta que te pario", "pendejo",
    "pendeja", "cabron", "cabrona", "chinga tu madre", "chingate", "malparido", "malparida",
    "gonorrea", "maricon", "sudaca", "mogolico", "mogolica", "retrasado", "retrasada",
    "tarado", "tarada", "culero", "culera", "culiao", "culiado", "conchudo", "conchuda",
    "andate a la mierda", "vete a la mierda", "come mierda", "chupame", "vete a la verga",
    "andate a la verga", "vayase a la verga", "vaya a la verga", "lpqtp", "lpmqtp",
    # pt
    "otario", "otaria", "babaca", "arrombado", "arrombada", "filho da puta", "filha da puta",
    "fdp", "vagabundo", "vagabunda", "viado", "desgracado", "desgracada", "cuzao", "corno",
    "vai se foder", "vai se fuder", "vai tomar no cu", "vtnc", "vtmnc", "vsf", "caralho",
    "porra",
    "buceta", "piranha", "escroto", "escrota", "retardado", "retardada", "imbecil",
    # en
    "idiot", "stupid", "moron", "asshole", "bitch", "bastard", "fuck you", "fuck off",
    "motherfucker", "fucker", "cunt", "dickhead", "retard", "faggot", "fag", "nigger",
    "nigga", "whore", "slut", "scumbag", "dumbass", "jackass", "shithead", "wanker",
    "retarded", "piece of shit", "piece of crap", "pedazo de mierda", "pedaco de merda",
    "stfu", "gtfo", "shut the fuck up", "shut the hell up",
)  # fmt: skip
#: words that insult only when aimed at someone ("sos una basura", "seu lixo", "you pig")
TARGETED_INSULTS: tuple[str, ...] = (
    "basura", "perra", "zorra", "rata", "burro", "burra", "inutil", "lixo", "burro",
    "macaco", "macaca", "mono", "animal", "trash", "pig", "loser", "garbage", "dog",
)  # fmt: skip
TARGET_MARKERS: tuple[str, ...] = (
    "sos", "eres", "sos un", "sos una", "eres un", "eres una", "seu", "sua", "voce e",
    "vc e", "tu es", "you", "you are", "youre", "ur", "u r", "you're a", "you are a",
    "maldito", "maldita", "pinche", "que", "you fucking",
)  # fmt: skip
#: threats (whole phrases)
THREATS: tuple[str, ...] = (
    # es
    "te voy a matar", "te mato", "te voy a buscar", "te voy a encontrar", "se donde vivis",
    "se donde vives", "te voy a cagar a palos", "te voy a romper", "vas a morir",
    "te vas a arrepentir", "cuidate la espalda", "cuida tu espalda", "se donde trabajas",
    "se cual es tu direccion", "conozco tu direccion", "tengo tu direccion",
    "te voy a partir la madre", "te voy a partir la cara", "te voy a partir la boca",
    "te voy a partir la jeta", "te voy a partir en dos", "te parto la madre", "te parto la cara",
    "te parto la boca",
    "te rompo la madre", "te rompo la cara", "te voy a madrear", "te voy a lastimar",
    "te voy a dar una madriza", "te voy a cagar a trompadas", "te voy a cagar a pinas",
    "te cago a trompadas", "te cago a palos", "te cago a pinas",
    # pt
    "vou te matar", "te mato", "vou te pegar", "vou te achar", "sei onde voce mora",
    "sei onde vc mora", "vai morrer", "sei seu endereco", "sei o seu endereco",
    "sei onde voce trabalha", "cuidado por onde anda", "vai se arrepender", "vou acabar com voce",
    "vou te encontrar", "vou te machucar", "vou te bater", "vou te dar uma surra",
    "vou te encher de porrada", "vou quebrar sua cara",
    "vou quebrar a sua cara", "vou te quebrar",
    # en
    "i will kill you", "i'll kill you", "ill kill you", "im going to kill you",
    "i'm going to kill you", "i know where you live", "you're dead", "youre dead",
    "kill yourself", "kys", "you will regret", "watch your back", "i know your address",
    "i know where you work", "i have your address", "i will find you", "i'll find you",
    "ill find you", "im going to find you", "i'm going to find you", "gonna find you",
    "gonna kill you", "going to kill you", "i will hurt you", "i'll hurt you", "ill hurt you",
    "going to hurt you", "gonna hurt you",
)  # fmt: skip
