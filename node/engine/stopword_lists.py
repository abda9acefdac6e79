"""The words of each predefined stopword list, by Qdrant's language name (see stopwords.py
for where they come from). Words are separated by whitespace; order carries no meaning.
Entries of Qdrant's lists that hold a space ("des de", "onların ") are left out: no token
ever holds one, so they never drop anything."""

from __future__ import annotations

WORDS: dict[str, str] = {
    "azerbaijani": """
a ad altı altmış amma arasında artıq ay az bax belə bəli bəlkə beş bəy bəzən bəzi bilər bir
biraz biri birşey biz bizim bizlər bu buna bundan bunların bunu bunun buradan bütün ci cı çox
cu cü çünki da daha də dedi dək dən dəqiqə deyil dir doqquz doqsan dörd düz ə edən edir əgər
əlbəttə elə əlli ən əslində et etdi etmə etmək faiz gilə görə ha haqqında harada hə heç həm
həmin həmişə hər ı idi iki il ildə ilə ilk in indi isə istifadə iyirmi ki kim kimə kimi lakin
lap məhz mən mənə mirşey nə nəhayət niyə o obirisi of olan olar olaraq oldu olduğu olmadı
olmaz olmuşdur olsun olur on ona ondan onlar onlardan onsuzda onu onun oradan otuz öz özü
qarşı qədər qırx saat sadəcə saniyə səhv səkkiz səksən sən sənə sənin siz sizin sizlər sonra
təəssüf ü üç üçün var və xan xanım xeyr ya yalnız yaxşı yeddi yenə yəni yetmiş yox yoxdur
yoxsa yüz zaman
""",
    "catalan": """
a abans ací ah així això al aleshores algun alguna algunes alguns alhora allà allí allò als
altra altre altres amb ambdues ambdós anar ans apa aquell aquella aquelles aquells aquest
aquesta aquestes aquests aquí baix bastant bé cada cadascuna cadascunes cadascuns cadascú com
consegueixo conseguim conseguir consigueix consigueixen consigueixes contra d'un d'una d'unes
d'uns dalt de del dels des després dins dintre donat doncs durant d e eh el elles ells els em
en encara ens entre era erem eren eres es esta estan estat estava estaven estem esteu estic
està estàvem estàveu et etc ets fa faig fan fas fem fer feu fi fins fora gairebé ha han has
haver havia he hem heu hi ho i igual iguals inclòs ja jo l'hi la les li li'n llarg llavors
m'he ma mal malgrat mateix mateixa mateixes mateixos me mentre meu meus meva meves mode molt
molta moltes molts mon mons més n'he n'hi ne ni no nogensmenys només nosaltres nostra nostre
nostres o oh oi on pas pel pels per perquè però poc poca pocs podem poden poder podeu poques
potser primer propi puc qual quals quan quant que quelcom qui quin quina quines quins què s'ha
s'han sa sabem saben saber sabeu sap saps semblant semblants sense ser ses seu seus seva seves
si sobre sobretot soc solament sols som son sons sota sou sóc són t'ha t'han t'he ta tal també
tampoc tan tant tanta tantes te tene tenim tenir teniu teu teus teva teves tinc ton tons tot
tota totes tots un una unes uns us va vaig vam van vas veu vosaltres vostra vostre vostres
érem éreu és éssent últim ús
""",
    "danish": """
og i jeg det at en den til er som på de med han af for ikke der var mig sig men et har om vi
min havde ham hun nu over da fra du ud sin dem os op man hans hvor eller hvad skal selv her
alle vil blev kunne ind når være dog noget ville jo deres efter ned skulle denne end dette mit
også under have dig anden hende mine alt meget sit sine vor mod disse hvis din nogle hos blive
mange ad bliver hendes været thi jer sådan
""",
    "dutch": """
de en van ik te dat die in een hij het niet zijn is was op aan met als voor had er maar om hem
dan zou of wat mijn men dit zo door over ze zich bij ook tot je mij uit der daar haar naar heb
hoe heeft hebben deze u want nog zal me zij nu ge geen omdat iets worden toch al waren veel
meer doen toen moet ben zonder kan hun dus alles onder ja eens hier wie werd altijd doch wordt
wezen kunnen ons zelf tegen na reeds wil kon niets uw iemand geweest andere
""",
    "english": """
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be been
being have has had having do does did doing a an the and but if or because as until while of
at by for with about against between into through during before after above below to from up
down in out on off over under again further then once here there when where why how all any
both each few more most other some such no nor not only own same so than too very s t can will
just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn
didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn
mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn
wouldn't
""",
    "finnish": """
olla olen olet on olemme olette ovat ole oli olisi olisit olisin olisimme olisitte olisivat
olit olin olimme olitte olivat ollut olleet en et ei emme ette eivät minä minun minut minua
minussa minusta minuun minulla minulta minulle sinä sinun sinut sinua sinussa sinusta sinuun
sinulla sinulta sinulle hän hänen hänet häntä hänessä hänestä häneen hänellä häneltä hänelle
me meidän meidät meitä meissä meistä meihin meillä meiltä meille te teidän teidät teitä teissä
teistä teihin teillä teiltä teille he heidän heidät heitä heissä heistä heihin heillä heiltä
heille tämä tämän tätä tässä tästä tähän tallä tältä tälle tänä täksi tuo tuon tuotä tuossa
tuosta tuohon tuolla tuolta tuolle tuona tuoksi se sen sitä siinä siitä siihen sillä siltä
sille sinä siksi nämä näiden näitä näissä näistä näihin näillä näiltä näille näinä näiksi nuo
noiden noita noissa noista noihin noilla noilta noille noina noiksi ne niiden niitä niissä
niistä niihin niillä niiltä niille niinä niiksi kuka kenen kenet ketä kenessä kenestä keneen
kenellä keneltä kenelle kenenä keneksi ketkä keiden ketkä keitä keissä keistä keihin keillä
keiltä keille keinä keiksi mikä minkä minkä mitä missä mistä mihin millä miltä mille minä
miksi mitkä joka jonka jota jossa josta johon jolla jolta jolle jona joksi jotka joiden joita
joissa joista joihin joilla joilta joille joina joiksi että ja jos koska kuin mutta niin sekä
sillä tai vaan vai vaikka kanssa mukaan noin poikki yli kun niin nyt itse
""",
    "french": """
au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais me même
mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi
ton tu un une vos votre vous c d j l à m n s t y été étée étées étés étant étante étants
étantes suis es est sommes êtes sont serai seras sera serons serez seront serais serait
serions seriez seraient étais était étions étiez étaient fus fut fûmes fûtes furent sois soit
soyons soyez soient fusse fusses fût fussions fussiez fussent ayant ayante ayantes ayants eu
eue eues eus ai as avons avez ont aurai auras aura aurons aurez auront aurais aurait aurions
auriez auraient avais avait avions aviez avaient eut eûmes eûtes eurent aie aies ait ayons
ayez aient eusse eusses eût eussions eussiez eussent
""",
    "german": """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
anderm andern anderr anders auch auf aus bei bin bis bist da damit dann der den des dem die
das dass daß derselbe derselben denselben desselben demselben dieselbe dieselben dasselbe dazu
dein deine deinem deinen deiner deines denn derer dessen dich dir du dies diese diesem diesen
dieser dieses doch dort durch ein eine einem einen einer eines einig einige einigem einigen
einiger einiges einmal er ihn ihm es etwas euer eure eurem euren eurer eures für gegen gewesen
hab habe haben hat hatte hatten hier hin hinter ich mich mir ihr ihre ihrem ihren ihrer ihres
euch im in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann
kein keine keinem keinen keiner keines können könnte machen man manche manchem manchen mancher
manches mein meine meinem meinen meiner meines mit muss musste nach nicht nichts noch nun nur
ob oder ohne sehr sein seine seinem seinen seiner seines selbst sich sie ihnen sind so solche
solchem solchen solcher solches soll sollte sondern sonst über um und uns unsere unserem
unseren unser unseres unter viel vom von vor während war waren warst was weg weil weiter
welche welchem welchen welcher welches wenn werde werden wie wieder will wir wird wirst wo
wollen wollte würde würden zu zum zur zwar zwischen
""",
    "hungarian": """
a ahogy ahol aki akik akkor alatt által általában amely amelyek amelyekben amelyeket amelyet
amelynek ami amit amolyan amíg amikor át abban ahhoz annak arra arról az azok azon azt azzal
azért aztán azután azonban bár be belül benne cikk cikkek cikkeket csak de e eddig egész egy
egyes egyetlen egyéb egyik egyre ekkor el elég ellen elõ elõször elõtt elsõ én éppen ebben
ehhez emilyen ennek erre ez ezt ezek ezen ezzel ezért és fel felé hanem hiszen hogy hogyan
igen így illetve ill. ill ilyen ilyenkor ison ismét itt jó jól jobban kell kellett keresztül
keressünk ki kívül között közül legalább lehet lehetett legyen lenne lenni lesz lett maga
magát majd majd már más másik meg még mellett mert mely melyek mi mit míg miért milyen mikor
minden mindent mindenki mindig mint mintha mivel most nagy nagyobb nagyon ne néha nekem neki
nem néhány nélkül nincs olyan ott össze õ õk õket pedig persze rá s saját sem semmi sok sokat
sokkal számára szemben szerint szinte talán tehát teljes tovább továbbá több úgy ugyanis új
újabb újra után utána utolsó vagy vagyis valaki valami valamint való vagyok van vannak volt
voltam voltak voltunk vissza vele viszont volna
""",
    "indonesian": """
ada adalah adanya adapun agak agaknya agar akan akankah akhir akhiri akhirnya aku akulah amat
amatlah anda andalah antar antara antaranya apa apaan apabila apakah apalagi apatah artinya
asal asalkan atas atau ataukah ataupun awal awalnya bagai bagaikan bagaimana bagaimanakah
bagaimanapun bagi bagian bahkan bahwa bahwasanya baik bakal bakalan balik banyak bapak baru
bawah beberapa begini beginian beginikah beginilah begitu begitukah begitulah begitupun
bekerja belakang belakangan belum belumlah benar benarkah benarlah berada berakhir berakhirlah
berakhirnya berapa berapakah berapalah berapapun berarti berawal berbagai berdatangan beri
berikan berikut berikutnya berjumlah berkali-kali berkata berkehendak berkeinginan berkenaan
berlainan berlalu berlangsung berlebihan bermacam bermacam-macam bermaksud bermula bersama
bersama-sama bersiap bersiap-siap bertanya bertanya-tanya berturut berturut-turut bertutur
berujar berupa besar betul betulkah biasa biasanya bila bilakah bisa bisakah boleh bolehkah
bolehlah buat bukan bukankah bukanlah bukannya bulan bung cara caranya cukup cukupkah cukuplah
cuma dahulu dalam dan dapat dari daripada datang dekat demi demikian demikianlah dengan depan
di dia diakhiri diakhirinya dialah diantara diantaranya diberi diberikan diberikannya dibuat
dibuatnya didapat didatangkan digunakan diibaratkan diibaratkannya diingat diingatkan
diinginkan dijawab dijelaskan dijelaskannya dikarenakan dikatakan dikatakannya dikerjakan
diketahui diketahuinya dikira dilakukan dilalui dilihat dimaksud dimaksudkan dimaksudkannya
dimaksudnya diminta dimintai dimisalkan dimulai dimulailah dimulainya dimungkinkan dini
dipastikan diperbuat diperbuatnya dipergunakan diperkirakan diperlihatkan diperlukan
diperlukannya dipersoalkan dipertanyakan dipunyai diri dirinya disampaikan disebut disebutkan
disebutkannya disini disinilah ditambahkan ditandaskan ditanya ditanyai ditanyakan ditegaskan
ditujukan ditunjuk ditunjuki ditunjukkan ditunjukkannya ditunjuknya dituturkan dituturkannya
diucapkan diucapkannya diungkapkan dong dua dulu empat enggak enggaknya entah entahlah guna
gunakan hal hampir hanya hanyalah hari harus haruslah harusnya hendak hendaklah hendaknya
hingga ia ialah ibarat ibaratkan ibaratnya ibu ikut ingat ingat-ingat ingin inginkah inginkan
ini inikah inilah itu itukah itulah jadi jadilah jadinya jangan jangankan janganlah jauh jawab
jawaban jawabnya jelas jelaskan jelaslah jelasnya jika jikalau juga jumlah jumlahnya justru
kala kalau kalaulah kalaupun kalian kami kamilah kamu kamulah kan kapan kapankah kapanpun
karena karenanya kasus kata katakan katakanlah katanya ke keadaan kebetulan kecil kedua
keduanya keinginan kelamaan kelihatan kelihatannya kelima keluar kembali kemudian kemungkinan
kemungkinannya kenapa kepada kepadanya kesampaian keseluruhan keseluruhannya keterlaluan
ketika khususnya kini kinilah kira kira-kira kiranya kita kitalah kok kurang lagi lagian lah
lain lainnya lalu lama lamanya lanjut lanjutnya lebih lewat lima luar macam maka makanya makin
malah malahan mampu mampukah mana manakala manalagi masa masalah masalahnya masih masihkah
masing masing-masing mau maupun melainkan melakukan melalui melihat melihatnya memang
memastikan memberi memberikan membuat memerlukan memihak meminta memintakan memisalkan
memperbuat mempergunakan memperkirakan memperlihatkan mempersiapkan mempersoalkan
mempertanyakan mempunyai memulai memungkinkan menaiki menambahkan menandaskan menanti
menanti-nanti menantikan menanya menanyai menanyakan mendapat mendapatkan mendatang mendatangi
mendatangkan menegaskan mengakhiri mengapa mengatakan mengatakannya mengenai mengerjakan
mengetahui menggunakan menghendaki mengibaratkan mengibaratkannya mengingat mengingatkan
menginginkan mengira mengucapkan mengucapkannya mengungkapkan menjadi menjawab menjelaskan
menuju menunjuk menunjuki menunjukkan menunjuknya menurut menuturkan menyampaikan menyangkut
menyatakan menyebutkan menyeluruh menyiapkan merasa mereka merekalah merupakan meski meskipun
meyakini meyakinkan minta mirip misal misalkan misalnya mula mulai mulailah mulanya mungkin
mungkinkah nah naik namun nanti nantinya nyaris nyatanya oleh olehnya pada padahal padanya pak
paling panjang pantas para pasti pastilah penting pentingnya per percuma perlu perlukah
perlunya pernah persoalan pertama pertama-tama pertanyaan pertanyakan pihak pihaknya pukul
pula pun punya rasa rasanya rata rupanya saat saatnya saja sajalah saling sama sama-sama
sambil sampai sampai-sampai sampaikan sana sangat sangatlah satu saya sayalah se sebab
sebabnya sebagai sebagaimana sebagainya sebagian sebaik sebaik-baiknya sebaiknya sebaliknya
sebanyak sebegini sebegitu sebelum sebelumnya sebenarnya seberapa sebesar sebetulnya sebisanya
sebuah sebut sebutlah sebutnya secara secukupnya sedang sedangkan sedemikian sedikit
sedikitnya seenaknya segala segalanya segera seharusnya sehingga seingat sejak sejauh sejenak
sejumlah sekadar sekadarnya sekali sekali-kali sekalian sekaligus sekalipun sekarang sekarang
sekecil seketika sekiranya sekitar sekitarnya sekurang-kurangnya sekurangnya sela selain
selaku selalu selama selama-lamanya selamanya selanjutnya seluruh seluruhnya semacam semakin
semampu semampunya semasa semasih semata semata-mata semaunya sementara semisal semisalnya
sempat semua semuanya semula sendiri sendirian sendirinya seolah seolah-olah seorang sepanjang
sepantasnya sepantasnyalah seperlunya seperti sepertinya sepihak sering seringnya serta serupa
sesaat sesama sesampai sesegera sesekali seseorang sesuatu sesuatunya sesudah sesudahnya
setelah setempat setengah seterusnya setiap setiba setibanya setidak-tidaknya setidaknya
setinggi seusai sewaktu siap siapa siapakah siapapun sini sinilah soal soalnya suatu sudah
sudahkah sudahlah supaya tadi tadinya tahu tahun tak tambah tambahnya tampak tampaknya tandas
tandasnya tanpa tanya tanyakan tanyanya tapi tegas tegasnya telah tempat tengah tentang tentu
tentulah tentunya tepat terakhir terasa terbanyak terdahulu terdapat terdiri terhadap
terhadapnya teringat teringat-ingat terjadi terjadilah terjadinya terkira terlalu terlebih
terlihat termasuk ternyata tersampaikan tersebut tersebutlah tertentu tertuju terus terutama
tetap tetapi tiap tiba tiba-tiba tidak tidakkah tidaklah tiga tinggi toh tunjuk turut tutur
tuturnya ucap ucapnya ujar ujarnya umum umumnya ungkap ungkapnya untuk usah usai waduh wah
wahai waktu waktunya walau walaupun wong yaitu yakin yakni yang
""",
    "italian": """
ad al allo ai agli all agl alla alle con col coi da dal dallo dai dagli dall dagl dalla dalle
di del dello dei degli dell degl della delle in nel nello nei negli nell negl nella nelle su
sul sullo sui sugli sull sugl sulla sulle per tra contro io tu lui lei noi voi loro mio mia
miei mie tuo tua tuoi tue suo sua suoi sue nostro nostra nostri nostre vostro vostra vostri
vostre mi ti ci vi lo la li le gli ne il un uno una ma ed se perché anche come dov dove che
chi cui non più quale quanto quanti quanta quante quello quelli quella quelle questo questi
questa queste si tutto tutti a c e i l o ho hai ha abbiamo avete hanno abbia abbiate abbiano
avrò avrai avrà avremo avrete avranno avrei avresti avrebbe avremmo avreste avrebbero avevo
avevi aveva avevamo avevate avevano ebbi avesti ebbe avemmo aveste ebbero avessi avesse
avessimo avessero avendo avuto avuta avuti avute sono sei è siamo siete sia siate siano sarò
sarai sarà saremo sarete saranno sarei saresti sarebbe saremmo sareste sarebbero ero eri era
eravamo eravate erano fui fosti fu fummo foste furono fossi fosse fossimo fossero essendo
faccio fai facciamo fanno faccia facciate facciano farò farai farà faremo farete faranno farei
faresti farebbe faremmo fareste farebbero facevo facevi faceva facevamo facevate facevano feci
facesti fece facemmo faceste fecero facessi facesse facessimo facessero facendo sto stai sta
stiamo stanno stia stiate stiano starò starai starà staremo starete staranno starei staresti
starebbe staremmo stareste starebbero stavo stavi stava stavamo stavate stavano stetti stesti
stette stemmo steste stettero stessi stesse stessimo stessero stando
""",
    "norwegian": """
og i jeg det at en et den til er som på de med han av ikke ikkje der så var meg seg men ett
har om vi min mitt ha hadde hun nå over da ved fra du ut sin dem oss opp man kan hans hvor
eller hva skal selv sjøl her alle vil bli ble blei blitt kunne inn når være kom noen noe ville
dere som deres kun ja etter ned skulle denne for deg si sine sitt mot å meget hvorfor dette
disse uten hvordan ingen din ditt blir samme hvilken hvilke sånn inni mellom vår hver hvem
vors hvis både bare enn fordi før mange også slik vært være båe begge siden dykk dykkar dei
deira deires deim di då eg ein eit eitt elles honom hjå ho hoe henne hennar hennes hoss hossen
ikkje ingi inkje korleis korso kva kvar kvarhelst kven kvi kvifor me medan mi mine mykje no
nokon noka nokor noko nokre si sia sidan so somt somme um upp vere vore verte vort varte vart
""",
    "portuguese": """
a à ao aos aquela aquelas aquele aqueles aquilo as às até com como da das de dela delas dele
deles depois do dos e é ela elas ele eles em entre era eram éramos essa essas esse esses esta
está estamos estão estar estas estava estavam estávamos este esteja estejam estejamos estes
esteve estive estivemos estiver estivera estiveram estivéramos estiverem estivermos estivesse
estivessem estivéssemos estou eu foi fomos for fora foram fôramos forem formos fosse fossem
fôssemos fui há haja hajam hajamos hão havemos haver hei houve houvemos houver houvera houverá
houveram houvéramos houverão houverei houverem houveremos houveria houveriam houveríamos
houvermos houvesse houvessem houvéssemos isso isto já lhe lhes mais mas me mesmo meu meus
minha minhas muito na não nas nem no nos nós nossa nossas nosso nossos num numa o os ou para
pela pelas pelo pelos por qual quando que quem são se seja sejam sejamos sem ser será serão
serei seremos seria seriam seríamos seu seus só somos sou sua suas também te tem tém temos
tenha tenham tenhamos tenho terá terão terei teremos teria teriam teríamos teu teus teve tinha
tinham tínhamos tive tivemos tiver tivera tiveram tivéramos tiverem tivermos tivesse tivessem
tivéssemos tu tua tuas um uma você vocês vos
""",
    "romanian": """
a abia acea aceasta această aceea aceeasi acei aceia acel acela acelasi acele acelea acest
acesta aceste acestea acestei acestia acestui aceşti aceştia adica ai aia aibă aici al ala ale
alea alt alta altceva altcineva alte altfel alti altii altul am anume apoi ar are as asa asta
astea astfel asupra atare atat atata atatea atatia ati atit atita atitea atitia atunci au avea
avem aveţi avut aş aţi ba ca cam cand care careia carora caruia cat catre ce cea ceea cei
ceilalti cel cele celor ceva chiar ci cind cine cineva cit cita cite citeva citi citiva cu cui
cum cumva cât câte câtva câţi cînd cît cîte cîtva cîţi că căci cărei căror cărui către da daca
dacă dar dat dată dau de deasupra deci decit deja desi despre deşi din dintr dintr- dintre
doar doi doilea două drept dupa după dă e ea ei el ele era eram este eu eşti face fara fata
fel fi fie fiecare fii fim fiu fiţi foarte fost fără i ia iar ii il imi in inainte inapoi inca
incit insa intr intre isi iti la le li lor lui lângă lîngă m ma mai mea mei mele mereu meu mi
mie mine mod mult multa multe multi multă mulţi mâine mîine mă ne ni nici nimeni nimic niste
nişte noastre noastră noi nostri nostru nou noua nouă noştri nu numai o or ori oricare orice
oricine oricum oricând oricât oricînd oricît oriunde pai parca patra patru pe pentru peste pic
pina poate pot prea prima primul prin printr- putini puţin puţina puţină până pînă sa sa-mi
sa-ti sai sale sau se si sint sintem spate spre sub sunt suntem sunteţi sus să săi său t ta
tale te ti tine toata toate toată tocmai tot toti totul totusi totuşi toţi trei treia treilea
tu tuturor tăi tău u ul ului un una unde undeva unei uneia unele uneori unii unor unora unu
unui unuia unul v va vi voastre voastră voi vom vor vostru vouă voştri vreo vreun vă zi zice
îi îl îmi în îţi ăla ălea ăsta ăstea ăştia şi ţi ţie
""",
    "russian": """
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне
было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него
до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для
мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того
потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем
всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего
них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя
такой им более всегда конечно всю между
""",
    "spanish": """
de la que el en y a los del se las por un para con no una su al lo como más pero sus le ya o
este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos
durante todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo
otro otras otra él tanto esa estos mucho quienes nada muchos cual poco ella estar estas
algunas algo nosotros mi mis tú te ti tu tus ellas nosotras vosotros vosotras os mío mía míos
mías tuyo tuya tuyos tuyas suyo suya suyos suyas nuestro nuestra nuestros nuestras vuestro
vuestra vuestros vuestras esos esas estoy estás está estamos estáis están esté estés estemos
estéis estén estaré estarás estará estaremos estaréis estarán estaría estarías estaríamos
estaríais estarían estaba estabas estábamos estabais estaban estuve estuviste estuvo estuvimos
estuvisteis estuvieron estuviera estuvieras estuviéramos estuvierais estuvieran estuviese
estuvieses estuviésemos estuvieseis estuviesen estando estado estada estados estadas estad he
has ha hemos habéis han haya hayas hayamos hayáis hayan habré habrás habrá habremos habréis
habrán habría habrías habríamos habríais habrían había habías habíamos habíais habían hube
hubiste hubo hubimos hubisteis hubieron hubiera hubieras hubiéramos hubierais hubieran hubiese
hubieses hubiésemos hubieseis hubiesen habiendo habido habida habidos habidas soy eres es
somos sois son sea seas seamos seáis sean seré serás será seremos seréis serán sería serías
seríamos seríais serían era eras éramos erais eran fui fuiste fue fuimos fuisteis fueron fuera
fueras fuéramos fuerais fueran fuese fueses fuésemos fueseis fuesen sintiendo sentido sentida
sentidos sentidas siente sentid tengo tienes tiene tenemos tenéis tienen tenga tengas tengamos
tengáis tengan tendré tendrás tendrá tendremos tendréis tendrán tendría tendrías tendríamos
tendríais tendrían tenía tenías teníamos teníais tenían tuve tuviste tuvo tuvimos tuvisteis
tuvieron tuviera tuvieras tuviéramos tuvierais tuvieran tuviese tuvieses tuviésemos tuvieseis
tuviesen teniendo tenido tenida tenidos tenidas tened
""",
    "swedish": """
och det att i en jag hon som han på den med var sig för så till är men ett om hade de av icke
mig du henne då sin nu har inte hans honom skulle hennes där min man ej vid kunde något från
ut när efter upp vi dem vara vad över än dig kan sina här ha mot alla under någon eller allt
mycket sedan ju denna själv detta åt utan varit hur ingen mitt ni bli blev oss din dessa några
deras blir mina samma vilken er sådan vår blivit dess inom mellan sådant varför varje vilka
ditt vem vilket sitta sådana vart dina vars vårt våra ert era vilkas
""",
    "tajik": """
аз дар ба бо барои бе то ҷуз пеши назди рӯйи паси ғайри ҳамон ҳамоно инҷониб замон замоно
эътиборан пеш қабл дида ки лекин аммо вале балки ва ҳарчанд чунки зеро ё ар гӯё чун-ки
агар-чанд гар-чи оё наход хуш хайр не на мана э фақат танҳо мабодо ҳтимол ана ҳа канӣ ваҳ ҳой
и а о эҳ ҳе ҳу аҳа оҳе уҳа ҳм нм оббо ӯббо вой-вой ту-ту ҳмм эҳа тавба ӯҳӯ аҷабо ало аё ой
ором хом?ш бай-бай он баъд азбаски ӯ ҳангоми чӣ кадом ин ҷо ҳам бояд аст чанд ҳар бар агар
бинобар ҳаргиз асло нахот кошкӣ шояд охир рӯ
""",
    "turkish": """
acaba ama aslında az bazı belki biri birkaç birşey biz bu çok çünkü da daha de defa diye eğer
en gibi hem hep hepsi her hiç için ile ise kez ki kim mı mu mü nasıl ne neden nerde nerede
nereye niçin niye o sanki şey siz şu tüm ve veya ya yani
""",
}
